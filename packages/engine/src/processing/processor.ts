/**
 * @file A version's processing: its steps built from model.json, and the three phases of a
 * processed run (preprocess per request, the model, join and postprocess), on the thread that
 * runs the session.
 */
import {
  ConveyorError,
  type Postprocess,
  type Preprocess,
  type Tensor,
  type TensorSpec,
} from '@conveyor/shared';
import { concatRows, rowsOf, sliceRows } from '../batch-rows.js';
import { INPUT_STEPS, OUTPUT_STEPS } from './steps.js';
import type { ImageFrame, InputStep, ModelIo, OutputStep, StepContext, Tensors } from './step.js';

/** The processing part of model.json. */
export interface ProcessingConfig {
  readonly preprocess?: Preprocess | undefined;
  readonly postprocess?: Postprocess | undefined;
}

/** A version's built steps. */
export interface Processor {
  /** External inputs the steps read; model inputs no step feeds are sent as they are. */
  readonly inputs: readonly TensorSpec[];
  /** Model inputs the steps feed. */
  readonly fed: ReadonlySet<string>;
  /** External outputs the steps write. */
  readonly outputs: readonly TensorSpec[];
  /** Outputs input steps add when they join rows back (not model outputs, not output steps'). */
  readonly added: readonly TensorSpec[];
  /** The model outputs to ask onnxruntime for, to answer `requested` (step or raw outputs). */
  modelOutputs(requested: readonly string[]): string[];
  /**
   * Turns the external inputs of a call into model inputs, each request (`pieces`: the rows of
   * each, in order; default one) preprocessed alone, then joined. With `warmup`, each step's
   * sample replaces its input.
   */
  preprocess(inputs: Tensors, pieces?: readonly number[], warmup?: boolean): Promise<Prepared>;
  /** Joins window rows back (input steps' `join`) and runs the output steps for `requested`. */
  postprocess(prepared: Prepared, outputs: Tensors, requested: readonly string[]): Promise<Tensors>;
}

/** What preprocess made: the model inputs, and what each request's steps fed, for `join`. */
export interface Prepared {
  readonly inputs: Record<string, Tensor>;
  readonly pieces: readonly { step: InputStep; fed: Tensors }[][];
}

const configError = (message: string, details: Record<string, unknown> = {}) =>
  new ConveyorError('ERR_MODEL_CONFIG_INVALID', message, { details });

async function buildInputs(config: Preprocess, model: ModelIo, context: StepContext) {
  const steps = new Map<string, InputStep>();
  const fed = new Set<string>();
  for (const [name, step] of Object.entries(config)) {
    const kind = INPUT_STEPS[step.kind] as
      { create(init: unknown): Promise<InputStep> } | undefined;
    if (!kind) throw configError(`preprocess "${name}": kind "${step.kind}" is not available`);
    const built = await kind.create({ name, config: step, model, context });
    for (const input of built.feeds) {
      if (fed.has(input)) throw configError(`model input "${input}" is fed by two steps`);
      fed.add(input);
    }
    steps.set(name, built);
  }
  return { steps, fed };
}

async function buildOutputs(config: Postprocess, model: ModelIo, context: StepContext) {
  const steps = new Map<string, OutputStep>();
  for (const [name, step] of Object.entries(config)) {
    const kind = OUTPUT_STEPS[step.kind] as
      { create(init: unknown): Promise<OutputStep> } | undefined;
    if (!kind) throw configError(`postprocess "${name}": kind "${step.kind}" is not available`);
    const built = await kind.create({ name, config: step, model, context });
    for (const spec of built.external) {
      if (steps.has(spec.name))
        throw configError(`postprocess: output "${spec.name}" is written by two steps`);
      steps.set(spec.name, built);
    }
  }
  return steps;
}

/** The rows (first dimension) of the first tensor, or `none` when there is none. */
const firstRows = (tensors: Tensors, none: number): number => {
  const first = Object.values(tensors)[0];
  return first ? rowsOf(first) : none;
};

/** Rows [from, from + rows) of every tensor. */
const sliceAll = (tensors: Tensors, from: number, rows: number): Record<string, Tensor> =>
  Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, sliceRows(t, from, rows)]));

/**
 * Where an image step put each row's image, over every request of the call, in row order; rows no
 * image step made are undefined. Undefined when no row has a frame.
 */
function framesOfRows(prepared: Prepared): (ImageFrame | undefined)[] | undefined {
  const frames: (ImageFrame | undefined)[] = [];
  let any = false;
  for (const piece of prepared.pieces) {
    const rows = firstRows(piece[0]?.fed ?? {}, 0);
    const found = piece.map(({ step, fed }) => step.frames?.(fed)).find((f) => f !== undefined);
    for (let row = 0; row < rows; row += 1) frames.push(found?.[row]);
    any ||= found !== undefined;
  }
  return any ? frames : undefined;
}

/** Joins tensors of the same name row-wise, refusing ones that differ beyond their rows. */
function joinAll(parts: readonly Tensors[]): Record<string, Tensor> {
  if (parts.length === 1) return { ...(parts[0] as Tensors) };
  const out: Record<string, Tensor> = {};
  for (const name of Object.keys(parts[0] ?? {})) {
    const tensors = parts.map((p) => p[name] as Tensor);
    const row = (t: Tensor) => `${t.dtype} ${t.shape.slice(1).join('x')}`;
    if (tensors.some((t) => row(t) !== row(tensors[0] as Tensor))) {
      // The batcher then runs each request alone.
      throw new ConveyorError(
        'ERR_INFERENCE_FAILED',
        `requests preprocessed to different shapes of "${name}" cannot share a call`,
      );
    }
    out[name] = concatRows(tensors);
  }
  return out;
}

/** Builds a version's steps; undefined when model.json has none. */
export async function createProcessor(
  config: ProcessingConfig,
  model: ModelIo,
  context: StepContext,
): Promise<Processor | undefined> {
  const pre = config.preprocess ?? {};
  const post = config.postprocess ?? {};
  if (Object.keys(pre).length + Object.keys(post).length === 0) return undefined;
  const { steps: inputs, fed } = await buildInputs(pre, model, context);
  const outputs = await buildOutputs(post, model, context);
  const external = [...inputs.values()].flatMap((s) => s.external);
  for (const spec of external) {
    if (model.inputs.some((i) => i.name === spec.name && !fed.has(i.name)))
      throw configError(`preprocess "${spec.name}" has the name of a model input it does not feed`);
  }
  const outputSpecs = [...new Set(outputs.values())].flatMap((s) => s.external);
  const added = [...inputs.values()].flatMap((s) => s.adds ?? []);
  const addedNames = new Set(added.map((s) => s.name));

  const preprocessPiece = async (tensors: Tensors) => {
    const modelInputs: Record<string, Tensor> = {};
    const done: { step: InputStep; fed: Tensors }[] = [];
    for (const step of inputs.values()) {
      const own = Object.fromEntries(step.external.map((s) => [s.name, tensors[s.name]]));
      const made = await step.run(own as Tensors);
      Object.assign(modelInputs, made);
      done.push({ step, fed: made });
    }
    return { modelInputs, done };
  };

  return {
    inputs: external,
    fed,
    outputs: outputSpecs,
    added,
    modelOutputs(requested) {
      const names = new Set<string>();
      for (const name of requested) {
        if (addedNames.has(name)) continue;
        const step = outputs.get(name);
        for (const read of step ? step.reads : [name]) names.add(read);
      }
      // onnxruntime runs for at least one output, even when only a step's own output is asked.
      if (names.size === 0 && model.outputs[0]) names.add(model.outputs[0].name);
      return [...names];
    },
    async preprocess(tensors, pieces, warmup = false) {
      let given: Tensors = tensors;
      if (warmup) {
        given = { ...tensors };
        for (const step of inputs.values())
          if (step.sample) given = { ...given, ...(await step.sample()) };
      }
      const stepInputs = Object.fromEntries(
        external.map((s) => [s.name, given[s.name]] as const).filter(([, t]) => t !== undefined),
      ) as Record<string, Tensor>;
      const passThrough = Object.fromEntries(
        Object.entries(given).filter(([k]) => !(k in stepInputs)),
      );
      const counts = warmup || !pieces ? [firstRows(stepInputs, 1)] : pieces;
      const made: Tensors[] = [];
      const byPiece: { step: InputStep; fed: Tensors }[][] = [];
      let from = 0;
      for (const rows of counts) {
        const part = counts.length === 1 ? stepInputs : sliceAll(stepInputs, from, rows);
        const { modelInputs, done } = await preprocessPiece(part);
        made.push(modelInputs);
        byPiece.push(done);
        from += rows;
      }
      return { inputs: { ...passThrough, ...joinAll(made) }, pieces: byPiece };
    },
    async postprocess(prepared, modelOutputs, requested) {
      let joined: Tensors = modelOutputs;
      const joining = prepared.pieces.some((p) => p.some((d) => d.step.join !== undefined));
      if (joining) {
        const parts: Tensors[] = [];
        let from = 0;
        for (const piece of prepared.pieces) {
          const fedRows = firstRows(piece[0]?.fed ?? {}, 0);
          let part: Tensors = sliceAll(modelOutputs, from, fedRows);
          for (const { step, fed } of piece) if (step.join) part = step.join(fed, part);
          parts.push(part);
          from += fedRows;
        }
        joined = joinAll(parts);
      }
      const out: Record<string, Tensor> = {};
      const ran = new Set<OutputStep>();
      // Steps that join rows (text windows) make no images: frames only for rows kept as they are.
      const frames = joining ? undefined : framesOfRows(prepared);
      for (const name of requested) {
        const step = outputs.get(name);
        if (!step) {
          const raw = joined[name];
          if (raw) out[name] = raw;
          continue;
        }
        if (ran.has(step)) continue;
        ran.add(step);
        const made = await step.run(joined, frames);
        for (const [key, tensor] of Object.entries(made))
          if (requested.includes(key)) out[key] = tensor;
      }
      return out;
    },
  };
}
