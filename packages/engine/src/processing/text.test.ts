import { readFileSync } from 'node:fs';
import { TextStepSchema, type Tensor, type TextStepInput } from '@conveyor/shared';
import { describe, expect, it } from 'vitest';
import { createStepContext } from './step-context.js';
import type { ModelIo } from './step.js';
import { createTextTokenizer, TEXT_STEP, textRows, type TextInputStep } from './text.js';
import { joinWindowRows, padRows, windowSpans } from './text-windows.js';

const VERSION_DIR = new URL('../../../../models/sentiment/1', import.meta.url).pathname;
const tokenizerJson = readFileSync(`${VERSION_DIR}/tokenizer.json`, 'utf8');

// Ids of models/sentiment/1's vocabulary (scripts/lib/sentiment-model.ts), by hand.
const PAD = 0;
const UNK = 1;
const CLS = 2;
const SEP = 3;
const [GOOD, GREAT, LOVE] = [4, 5, 6];
const [BAD, BORING] = [10, 15];
const [THE, MOVIE, IS, WAS, I, THIS, PLOT] = [16, 17, 19, 20, 21, 23, 26];
const [PIECE_S, BANG, DOT] = [27, 28, 29];

const strings = (...data: string[]): Tensor<'string'> => ({
  dtype: 'string',
  shape: [data.length],
  data,
});
const step = (input: Partial<TextStepInput> = {}) =>
  TextStepSchema.parse({ kind: 'text', ...input });

describe('createTextTokenizer', () => {
  const tokenizer = createTextTokenizer(tokenizerJson);

  it('lower-cases, splits on whitespace and punctuation, and finds word pieces', () => {
    expect(tokenizer.ids('I LOVE this movie!')).toEqual([I, LOVE, THIS, MOVIE, BANG]);
    expect(tokenizer.ids('the plots. zebra')).toEqual([THE, PLOT, PIECE_S, DOT, UNK]);
  });

  it('finds the [CLS] ... [SEP] template and the [PAD] id', () => {
    expect(tokenizer).toMatchObject({ prefix: [CLS], suffix: [SEP], padId: PAD });
    expect(createTextTokenizer(tokenizerJson, false)).toMatchObject({ prefix: [], suffix: [] });
  });

  it('refuses a file that is not a tokenizer with ERR_MODEL_CONFIG_INVALID', () => {
    expect(() => createTextTokenizer('{"model": 1}')).toThrow(
      expect.objectContaining({ code: 'ERR_MODEL_CONFIG_INVALID' }),
    );
  });
});

describe('windowSpans and padRows', () => {
  it('covers 10 tokens with windows of 4 overlapping by 1', () => {
    expect(windowSpans(10, 4, 1)).toEqual([
      { start: 0, end: 4 },
      { start: 3, end: 7 },
      { start: 6, end: 10 },
    ]);
    expect(windowSpans(11, 4, 1).at(-1)).toEqual({ start: 9, end: 11 });
    expect(windowSpans(3, 4, 1)).toEqual([{ start: 0, end: 3 }]);
    expect(windowSpans(0, 4, 0)).toEqual([{ start: 0, end: 0 }]);
  });

  it('pads to the longest row or a given width, masking the padding', () => {
    expect(padRows([[1, 2, 3], [4]], 0)).toEqual({
      width: 3,
      ids: [1, 2, 3, 4, 0, 0],
      mask: [1, 1, 1, 1, 0, 0],
    });
    expect(padRows([[7]], 9, 3)).toEqual({ width: 3, ids: [7, 9, 9], mask: [1, 0, 0] });
  });
});

describe('textRows', () => {
  const tokenizer = createTextTokenizer(tokenizerJson);

  it('adds the special tokens and truncates to maxLength', () => {
    const rows = textRows(step({ maxLength: 4 }), tokenizer, ['good', 'the movie was bad']);
    expect(rows).toEqual({
      rows: [
        [CLS, GOOD, SEP],
        [CLS, THE, MOVIE, SEP],
      ],
      counts: [1, 1],
    });
  });

  it('splits a long text into overlapping windows with their own special tokens', () => {
    const chunk = { size: 5, overlap: 1 };
    const text = 'the movie was good the plot was boring';
    const { rows, counts } = textRows(step({ maxLength: 8, chunk }), tokenizer, ['bad', text]);
    expect(counts).toEqual([1, 4]);
    expect(rows).toEqual([
      [CLS, BAD, SEP],
      [CLS, THE, MOVIE, WAS, SEP],
      [CLS, WAS, GOOD, THE, SEP],
      [CLS, THE, PLOT, WAS, SEP],
      [CLS, WAS, BORING, SEP],
    ]);
  });

  it.each([
    ['over maxChars', step({ maxChars: 5 }), { row: 1, chars: 6, maxChars: 5 }],
    ['over maxLength without truncation', step({ maxLength: 3, truncation: false }), { row: 1 }],
    ['over maxWindows', step({ maxLength: 3, chunk: { maxWindows: 1 } }), { windows: 2 }],
  ])('refuses a text %s with ERR_TEXT_TOO_LONG naming its row', (_, config, details) => {
    let error: unknown;
    try {
      textRows(config, tokenizer, ['good', 'i love']);
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'ERR_TEXT_TOO_LONG', details });
  });
});

describe('joinWindowRows', () => {
  const logits: Tensor = {
    dtype: 'float32',
    shape: [3, 2],
    data: Float32Array.from([1, 2, 3, 6, -1, 8]),
  };

  it('averages or maxes the windows of each text element-wise', () => {
    expect([...joinWindowRows(logits, [1, 2], 'mean').data]).toEqual([1, 2, 1, 7]);
    expect([...joinWindowRows(logits, [2, 1], 'max').data]).toEqual([3, 6, -1, 8]);
    expect(joinWindowRows(logits, [2, 1], 'max').shape).toEqual([2, 2]);
  });
});

const sentimentIo: ModelIo = {
  inputs: [
    { name: 'input_ids', dtype: 'int64', shape: [-1, -1], runtimeShape: ['batch', 'sequence'] },
    { name: 'attention_mask', dtype: 'int64', shape: [-1, -1], runtimeShape: ['b', 's'] },
  ],
  outputs: [{ name: 'logits', dtype: 'float32', shape: [-1, 2], runtimeShape: ['batch', 2] }],
};

describe('TEXT_STEP', () => {
  const context = createStepContext(VERSION_DIR);
  const create = (config: TextStepInput, io = sentimentIo) =>
    TEXT_STEP.create({ name: 'text', config: TextStepSchema.parse(config), model: io, context });

  it('feeds int64 ids and mask padded to the longest text', async () => {
    const built = await create({ kind: 'text' });
    expect(built.feeds).toEqual(['input_ids', 'attention_mask']);
    const fed = await built.run({ text: strings('great', 'this is bad.') });
    expect(fed.input_ids?.shape).toEqual([2, 6]);
    expect([...(fed.input_ids?.data as BigInt64Array)].map(Number)).toEqual([
      ...[CLS, GREAT, SEP, PAD, PAD, PAD],
      ...[CLS, THIS, IS, BAD, DOT, SEP],
    ]);
    expect([...(fed.attention_mask?.data as BigInt64Array)].map(Number)).toEqual([
      ...[1, 1, 1, 0, 0, 0],
      ...[1, 1, 1, 1, 1, 1],
    ]);
  });

  it('pads to maxLength and fills token type ids with zeros when asked', async () => {
    const io: ModelIo = {
      ...sentimentIo,
      inputs: [
        ...sentimentIo.inputs,
        { name: 'token_type_ids', dtype: 'int32', shape: [-1, -1], runtimeShape: [] },
      ],
    };
    const config = { kind: 'text', maxLength: 5, padding: 'max_length' } as const;
    const built = await create({ ...config, inputs: { typeIds: 'token_type_ids' } }, io);
    const fed = await built.run({ text: strings('good') });
    expect(fed.input_ids?.shape).toEqual([1, 5]);
    expect(fed.token_type_ids?.dtype).toBe('int32');
    expect([...(fed.token_type_ids?.data as Int32Array)]).toEqual([0, 0, 0, 0, 0]);
  });

  it('joins the outputs of the windows it fed, or indexes them with aggregate none', async () => {
    const chunk = { size: 4, overlap: 0 };
    const mean = (await create({ kind: 'text', chunk })) as TextInputStep;
    const fed = await mean.run({ text: strings('good bad good bad', 'bad') });
    expect(fed.input_ids?.shape).toEqual([3, 4]);
    const logits: Tensor = {
      dtype: 'float32',
      shape: [3, 2],
      data: Float32Array.from([0, 4, 2, 2, 4, 0]),
    };
    expect([...(mean.join(fed, { logits }).logits?.data ?? [])]).toEqual([1, 3, 4, 0]);
    const none = (await create({
      kind: 'text',
      chunk: { ...chunk, aggregate: 'none' },
    })) as TextInputStep;
    const fedNone = await none.run({ text: strings('good bad good bad', 'bad') });
    const joined = none.join(fedNone, { logits });
    expect(joined.logits).toBe(logits);
    expect([...(joined.text_index?.data as BigInt64Array)]).toEqual([0n, 0n, 1n]);
  });

  it.each([
    ['a missing id input', { kind: 'text', inputs: { ids: 'tokens' } }],
    ['a float mask input', { kind: 'text', inputs: { mask: 'logits' } }],
    ['a missing tokenizer file', { kind: 'text', tokenizer: 'vocab.json' }],
    ['windows with no room for text', { kind: 'text', maxLength: 4, chunk: { size: 2 } }],
  ] as const)('refuses %s with ERR_MODEL_CONFIG_INVALID', async (_, config) => {
    const io = { ...sentimentIo, inputs: [...sentimentIo.inputs, ...sentimentIo.outputs] };
    await expect(create(config, io)).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG_INVALID' });
  });
});

describe('TextStepSchema', () => {
  it.each([
    ['a window over maxLength', { maxLength: 8, chunk: { size: 9 } }],
    ['an overlap as large as a window', { maxLength: 8, chunk: { overlap: 7 } }],
    ['a tokenizer path outside the version folder', { tokenizer: '../tokenizer.json' }],
  ])('refuses %s', (_, config) => {
    expect(TextStepSchema.safeParse({ kind: 'text', ...config }).success).toBe(false);
  });
});
