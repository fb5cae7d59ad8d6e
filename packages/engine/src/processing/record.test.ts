import { RecordStepSchema, type RecordStepInput, type Tensor } from '@conveyor/shared';
import { describe, expect, it } from 'vitest';
import { mapRecords, RECORD_STEP, sampleRecord } from './record.js';
import { createStepContext } from './step-context.js';
import type { ModelIo } from './step.js';

const step = RecordStepSchema.parse({
  kind: 'record',
  fields: [
    { name: 'age', type: 'integer', min: 0, max: 120 },
    { name: 'income', type: 'number', min: 0, default: 0 },
    { name: 'member', type: 'boolean', default: false },
    { name: 'plan', type: 'category', categories: ['free', 'pro', 'team'] },
    { name: 'region', type: 'category', categories: ['eu', 'us'], encoding: 'index' },
  ],
} satisfies RecordStepInput);

/** Runs `fn` and returns the ConveyorError it throws. */
function thrown(fn: () => unknown): { code: string; details: Record<string, unknown> } {
  try {
    fn();
  } catch (error) {
    return error as { code: string; details: Record<string, unknown> };
  }
  throw new Error('expected a throw');
}

describe('mapRecords', () => {
  it('fills the fields in order: numbers, 1/0, one-hot and index columns, defaults', () => {
    const { width, rows } = mapRecords(step, [
      { age: 30, income: 1250.5, member: true, plan: 'pro', region: 'us' },
      { age: 0, plan: 'team', region: 'eu' },
    ]);
    expect(width).toBe(7);
    expect(rows).toEqual([
      [30, 1250.5, 1, 0, 1, 0, 1],
      [0, 0, 0, 0, 0, 1, 0],
    ]);
  });

  it('reports every bad field of a record together, each with its row and reason', () => {
    const error = thrown(() =>
      mapRecords(
        step,
        [
          { age: 30, plan: 'pro', region: 'eu' },
          { age: 30.5, income: -1, member: 'yes', plan: 'gold', colour: 'red' },
        ],
        'customer',
      ),
    );
    expect(error.code).toBe('ERR_RECORD_FIELD');
    expect(error.details).toMatchObject({
      input: 'customer',
      row: 1,
      field: 'age',
      reason: 'type',
    });
    expect(error.details.fields).toEqual([
      { row: 1, field: 'age', reason: 'type' },
      { row: 1, field: 'income', reason: 'range' },
      { row: 1, field: 'member', reason: 'type' },
      { row: 1, field: 'plan', reason: 'category' },
      { row: 1, field: 'region', reason: 'missing' },
      { row: 1, field: 'colour', reason: 'extra' },
    ]);
  });

  it('refuses values out of range on either side, and non-finite numbers', () => {
    const reasons = [{ age: -1 }, { age: 121 }, { age: 5, income: Number.POSITIVE_INFINITY }].map(
      (part) =>
        thrown(() => mapRecords(step, [{ plan: 'free', region: 'eu', ...part }])).details.fields,
    );
    expect(reasons).toEqual([
      [{ row: 0, field: 'age', reason: 'range' }],
      [{ row: 0, field: 'age', reason: 'range' }],
      [{ row: 0, field: 'income', reason: 'range' }],
    ]);
  });

  it('treats null as a wrong type, not as missing, and a non-object as a bad row', () => {
    const error = thrown(() => mapRecords(step, [{ age: null, plan: 'pro', region: 'eu' }, 7]));
    expect(error.details.fields).toEqual([
      { row: 0, field: 'age', reason: 'type' },
      { row: 1, field: '', reason: 'type' },
    ]);
  });

  it('ignores extra keys when the step says so', () => {
    const lenient = RecordStepSchema.parse({ ...step, extra: 'ignore' });
    const { rows } = mapRecords(lenient, [{ age: 1, plan: 'free', region: 'eu', note: 'x' }]);
    expect(rows).toEqual([[1, 0, 0, 1, 0, 0, 0]]);
  });
});

describe('RecordStepSchema', () => {
  it.each([
    ['a category without categories', { name: 'a', type: 'category' }],
    ['min above max', { name: 'a', type: 'number', min: 2, max: 1 }],
    ['a range on a boolean', { name: 'a', type: 'boolean', min: 0 }],
    ['a default out of range', { name: 'a', type: 'integer', max: 3, default: 4 }],
    ['a default not a category', { name: 'a', type: 'category', categories: ['x'], default: 'y' }],
    ['an encoding on a number', { name: 'a', type: 'number', encoding: 'index' }],
  ])('refuses %s', (_, field) => {
    expect(RecordStepSchema.safeParse({ kind: 'record', fields: [field] }).success).toBe(false);
  });

  it('refuses a field named twice', () => {
    const fields = [
      { name: 'a', type: 'number' },
      { name: 'a', type: 'integer' },
    ];
    expect(RecordStepSchema.safeParse({ kind: 'record', fields }).success).toBe(false);
  });
});

const model = (dtype: string, shape: number[]): ModelIo => ({
  inputs: [{ name: 'x', dtype, shape, runtimeShape: shape }],
  outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 1], runtimeShape: [-1, 1] }],
});

describe('RECORD_STEP', () => {
  const context = createStepContext('.');

  it('feeds the model input in its dtype from JSON text rows', async () => {
    const built = await RECORD_STEP.create({
      name: 'customer',
      config: step,
      model: model('float32', [-1, 7]),
      context,
    });
    expect(built.feeds).toEqual(['x']);
    expect(built.external).toMatchObject([{ name: 'customer', dtype: 'string', shape: [-1] }]);
    const text: Tensor<'string'> = {
      dtype: 'string',
      shape: [1],
      data: [JSON.stringify({ age: 42, income: 0.25, plan: 'free', region: 'us' })],
    };
    const out = await built.run({ customer: text });
    expect(out.x?.shape).toEqual([1, 7]);
    expect([...(out.x?.data as Float32Array)]).toEqual([42, 0.25, 0, 1, 0, 0, 1]);
  });

  it('refuses text that is not JSON as a bad row', async () => {
    const built = await RECORD_STEP.create({
      name: 'customer',
      config: step,
      model: model('float64', [-1, -1]),
      context,
    });
    const text: Tensor<'string'> = { dtype: 'string', shape: [1], data: ['{age: 1'] };
    await expect(built.run({ customer: text })).rejects.toMatchObject({
      code: 'ERR_RECORD_FIELD',
      details: { row: 0, reason: 'type' },
    });
  });

  it.each([
    ['a column count that differs', model('float32', [-1, 6])],
    ['an input of rank 1', model('float32', [-1])],
    ['an integer input with number fields', model('int64', [-1, 7])],
    ['a string input', model('string', [-1, 7])],
  ])('refuses %s with ERR_MODEL_CONFIG_INVALID', async (_, io) => {
    await expect(
      RECORD_STEP.create({ name: 'customer', config: step, model: io, context }),
    ).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG_INVALID' });
  });
});

describe('sampleRecord', () => {
  it('makes a record every field accepts, for warm-up', () => {
    const strict = RecordStepSchema.parse({
      kind: 'record',
      fields: [...step.fields, { name: 'delta', type: 'number', max: -2 }],
    });
    expect(sampleRecord(strict)).toEqual({
      age: 0,
      income: 0,
      member: false,
      plan: 'free',
      region: 'eu',
      delta: -2,
    });
    expect(mapRecords(strict, [sampleRecord(strict)]).rows).toEqual([[0, 0, 0, 1, 0, 0, 0, -2]]);
  });
});
