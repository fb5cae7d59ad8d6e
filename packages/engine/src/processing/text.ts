/**
 * @file The `text` input step: strings to token ids, attention mask and token type ids with the
 * version's tokenizer.json (@huggingface/tokenizers), truncated, refused or split into windows.
 */
import * as tokenizers from '@huggingface/tokenizers';
import {
  checkedByteLength,
  ConveyorError,
  createTensor,
  type Tensor,
  type TextStep,
} from '@conveyor/shared';
import type { InputStep, InputStepKind, StepInit, Tensors } from './step.js';
import { joinWindowRows, padRows, windowSpans } from './text-windows.js';

/** What the step uses of @huggingface/tokenizers' Tokenizer. */
interface HfTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
  token_to_id(token: string): number | undefined;
}

// The package's declarations import their own files without extensions, which Node16 resolution
// cannot follow, so its types arrive unresolved: name the part used here.
const { Tokenizer } = tokenizers as unknown as {
  Tokenizer: new (json: object, config: object) => HfTokenizer;
};

/** A tokenizer reduced to what the step needs: a text's own ids and the special ids around them. */
export interface TextTokenizer {
  /** The text's token ids, without special tokens. */
  ids(text: string): number[];
  /** Special ids before and after a text's ids ([CLS] and [SEP] for BERT); empty when off. */
  prefix: readonly number[];
  suffix: readonly number[];
  padId: number;
}

function configError(message: string, details: Record<string, unknown> = {}): ConveyorError {
  return new ConveyorError('ERR_MODEL_CONFIG_INVALID', message, { details });
}

/** The padding id: tokenizer.json's `padding.pad_id`, else [PAD] or <pad>, else 0. */
function padIdOf(json: Record<string, unknown>, tokenizer: HfTokenizer): number {
  const padding = json.padding as { pad_id?: unknown } | null | undefined;
  if (typeof padding?.pad_id === 'number') return padding.pad_id;
  return tokenizer.token_to_id('[PAD]') ?? tokenizer.token_to_id('<pad>') ?? 0;
}

/**
 * Builds a TextTokenizer from tokenizer.json's text. The special tokens around a text are found
 * by encoding a probe with and without them, so any single-text template works.
 */
export function createTextTokenizer(text: string, specialTokens = true): TextTokenizer {
  let tokenizer: HfTokenizer;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
    tokenizer = new Tokenizer(json, {});
  } catch (error) {
    throw new ConveyorError('ERR_MODEL_CONFIG_INVALID', 'the tokenizer file is not valid', {
      cause: error,
    });
  }
  const ids = (t: string): number[] => tokenizer.encode(t, { add_special_tokens: false }).ids;
  let prefix: number[] = [];
  let suffix: number[] = [];
  if (specialTokens) {
    const bare = ids('a');
    const full = tokenizer.encode('a', { add_special_tokens: true }).ids;
    const at = full.findIndex((_, i) => bare.every((id, k) => full[i + k] === id));
    if (at < 0) throw configError('the tokenizer adds special tokens the text step cannot place');
    prefix = full.slice(0, at);
    suffix = full.slice(at + bare.length);
  }
  return { ids, prefix, suffix, padId: padIdOf(json, tokenizer) };
}

/** The rows of a request: token ids per row, and how many rows (windows) each text made. */
export interface TextRows {
  rows: number[][];
  counts: number[];
}

function tooLong(message: string, details: Record<string, unknown>): ConveyorError {
  return new ConveyorError('ERR_TEXT_TOO_LONG', message, { details });
}

/**
 * Tokenises texts into rows of at most `maxLength` ids, special tokens included: one row per
 * text, truncated (or refused, `truncation: false`), or with `chunk` one row per window.
 * Throws ERR_TEXT_TOO_LONG naming the row.
 */
export function textRows(
  step: TextStep,
  tokenizer: TextTokenizer,
  texts: readonly string[],
): TextRows {
  const specials = tokenizer.prefix.length + tokenizer.suffix.length;
  const room = (step.chunk?.size ?? step.maxLength) - specials;
  const rows: number[][] = [];
  const counts: number[] = [];
  texts.forEach((text, row) => {
    if (text.length > step.maxChars) {
      throw tooLong(`text ${row} has ${text.length} characters; at most ${step.maxChars}`, {
        row,
        chars: text.length,
        maxChars: step.maxChars,
      });
    }
    const ids = tokenizer.ids(text);
    if (!step.chunk && !step.truncation && ids.length > room) {
      throw tooLong(`text ${row} has ${ids.length + specials} tokens; at most ${step.maxLength}`, {
        row,
        tokens: ids.length + specials,
        maxLength: step.maxLength,
      });
    }
    const spans = step.chunk
      ? windowSpans(ids.length, room, step.chunk.overlap)
      : [{ start: 0, end: Math.min(ids.length, room) }];
    if (step.chunk && spans.length > step.chunk.maxWindows) {
      throw tooLong(`text ${row} makes ${spans.length} windows; at most ${step.chunk.maxWindows}`, {
        row,
        windows: spans.length,
        maxWindows: step.chunk.maxWindows,
      });
    }
    for (const { start, end } of spans) {
      rows.push([...tokenizer.prefix, ...ids.slice(start, end), ...tokenizer.suffix]);
    }
    counts.push(spans.length);
  });
  return { rows, counts };
}

type IdDtype = 'int64' | 'int32';

function idTensor(dtype: IdDtype, shape: number[], data: number[], maxBytes: number): Tensor {
  checkedByteLength(dtype, shape, maxBytes, 'text');
  return dtype === 'int64'
    ? createTensor(dtype, shape, BigInt64Array.from(data, BigInt), maxBytes)
    : createTensor(dtype, shape, Int32Array.from(data), maxBytes);
}

/** A text input step; `join` turns outputs over windows back into outputs per text. */
export interface TextInputStep extends InputStep {
  /**
   * With `chunk`: joins the model outputs of the rows `run` returned in `fed` into one row per
   * text (`mean`, `max`), or adds the row-to-text index output (`none`). Without: the outputs.
   */
  join(fed: Tensors, outputs: Tensors): Tensors;
}

/** Checks the step against the model (its id inputs must be int64 or int32 of rank 2). */
function idInputs(step: TextStep, init: StepInit<TextStep>): Map<string, IdDtype> {
  const names = [step.inputs.ids, step.inputs.mask, step.inputs.typeIds];
  const dtypes = new Map<string, IdDtype>();
  for (const name of names) {
    if (name === undefined || name === false) continue;
    const spec = init.model.inputs.find((input) => input.name === name);
    if (!spec || (spec.dtype !== 'int64' && spec.dtype !== 'int32') || spec.shape.length !== 2) {
      throw configError(
        `text step "${init.name}": "${name}" must be a model input of int64 or int32, rank 2`,
        { input: name, dtype: spec?.dtype, shape: spec?.shape },
      );
    }
    dtypes.set(name, spec.dtype);
  }
  return dtypes;
}

async function buildTextStep(init: StepInit<TextStep>): Promise<TextInputStep> {
  const { name, config: step, context } = init;
  const dtypes = idInputs(step, init);
  const tokenizer = createTextTokenizer(await context.readText(step.tokenizer), step.specialTokens);
  const room =
    (step.chunk?.size ?? step.maxLength) - tokenizer.prefix.length - tokenizer.suffix.length;
  if (room < 1 || (step.chunk && step.chunk.overlap >= room)) {
    throw configError(`text step "${name}": a window has ${room} tokens of text, too few`, {
      room,
    });
  }
  const plans = new WeakMap<Tensors, number[]>();
  const feed = (input: string, shape: number[], data: number[]): Tensors => ({
    [input]: idTensor(dtypes.get(input) ?? 'int64', shape, data, context.maxTensorBytes),
  });
  return {
    external: [{ name, dtype: 'string', shape: [-1], description: 'one text per row' }],
    feeds: [...dtypes.keys()],
    run: (inputs) =>
      new Promise<Tensors>((resolve) => {
        const texts = (inputs[name] as Tensor<'string'>).data;
        const { rows, counts } = textRows(step, tokenizer, texts);
        const width = step.padding === 'max_length' ? step.maxLength : undefined;
        const padded = padRows(rows, tokenizer.padId, width);
        const shape = [rows.length, padded.width];
        const { mask, typeIds } = step.inputs;
        const fed: Tensors = {
          ...feed(step.inputs.ids, shape, padded.ids),
          ...(mask === false ? {} : feed(mask, shape, padded.mask)),
          ...(typeIds === undefined
            ? {}
            : feed(
                typeIds,
                shape,
                padded.mask.map(() => 0),
              )),
        };
        plans.set(fed, counts);
        resolve(fed);
      }),
    join: (fed, outputs) => joinOutputs(step, plans.get(fed), outputs),
    ...(step.chunk?.aggregate === 'none' && {
      adds: [
        {
          name: step.chunk.windowsOutput,
          dtype: 'int64' as const,
          shape: [-1],
          description: `the row of "${name}" (the text) each output row is a window of`,
        },
      ],
    }),
    sample: () => Promise.resolve({ [name]: createTensor('string', [1], ['warm up']) }),
  };
}

/** Applies the step's `chunk.aggregate` to the outputs of one request's windows. */
function joinOutputs(step: TextStep, counts: number[] | undefined, outputs: Tensors): Tensors {
  if (!step.chunk) return outputs;
  if (!counts) throw configError('text step: join got rows this step did not feed');
  if (step.chunk.aggregate === 'none') {
    const index = counts.flatMap((count, text) => Array<number>(count).fill(text));
    const tensor = createTensor('int64', [index.length], BigInt64Array.from(index, BigInt));
    return { ...outputs, [step.chunk.windowsOutput]: tensor };
  }
  const how = step.chunk.aggregate;
  const windows = counts.reduce((a, b) => a + b, 0);
  return Object.fromEntries(
    Object.entries(outputs).map(([key, tensor]) => [
      key,
      tensor.shape[0] === windows ? joinWindowRows(tensor, counts, how) : tensor,
    ]),
  );
}

/** The `text` step kind for `steps.ts`. */
export const TEXT_STEP: InputStepKind<TextStep> = {
  role: 'input',
  create: buildTextStep,
};
