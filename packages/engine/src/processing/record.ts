/**
 * @file The `record` input step: JSON objects, one per row, to a rank-2 model input `[rows, F]`
 * by the step's declared fields. Records are mapped here, on the inference threads, and not in
 * the clients: the fields live in model.json, which only the engine reads, so HTTP, queue and
 * embedded callers get one mapping and the same field-level errors (ERR_RECORD_FIELD).
 */
import {
  checkedByteLength,
  ConveyorError,
  createTensor,
  recordFieldWidth,
  recordValueProblem,
  type RecordField,
  type RecordFieldReason,
  type RecordStep,
  type Tensor,
} from '@conveyor/shared';
import type { InputStep, InputStepKind, StepInit, Tensors } from './step.js';

/** One refused field of one record. */
export interface RecordProblem {
  /** The record's index in the request. */
  row: number;
  field: string;
  reason: RecordFieldReason;
  message: string;
}

/** Problems listed in one error at most; the count says how many there were. */
const MAX_LISTED = 100;

/** The columns one record fills, or its problems. Reads each field once, in order. */
function recordColumns(step: RecordStep, record: Record<string, unknown>, row: number) {
  const columns: number[] = [];
  const problems: RecordProblem[] = [];
  for (const field of step.fields) {
    const present = Object.hasOwn(record, field.name);
    const value = present ? record[field.name] : field.default;
    if (value === undefined) {
      problems.push({ row, field: field.name, reason: 'missing', message: 'is missing' });
      continue;
    }
    const problem = recordValueProblem(field, value);
    if (problem) problems.push({ row, field: field.name, ...problem, message: problem.message });
    else columns.push(...fieldColumns(field, value));
  }
  if (step.extra === 'refuse') {
    const known = new Set(step.fields.map((field) => field.name));
    for (const key of Object.keys(record)) {
      if (!known.has(key)) {
        problems.push({ row, field: key, reason: 'extra', message: 'is no field of the record' });
      }
    }
  }
  return { columns, problems };
}

/** A valid value's columns: the number, 1/0, the category's index, or its one-hot columns. */
function fieldColumns(field: RecordField, value: unknown): number[] {
  if (typeof value === 'boolean') return [value ? 1 : 0];
  if (typeof value === 'number') return [value];
  const index = (field.categories ?? []).indexOf(String(value));
  if (field.encoding === 'index') return [index];
  return (field.categories ?? []).map((_, i) => (i === index ? 1 : 0));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Maps records to rows of numbers, `width` columns each (the sum of the fields' widths). Throws
 * ERR_RECORD_FIELD listing every refused field of every record (up to 100) in `details.fields`,
 * with the first one's `row`, `field` and `reason` in `details` too.
 */
export function mapRecords(
  step: RecordStep,
  records: readonly unknown[],
  input = 'record',
): { width: number; rows: number[][] } {
  const width = step.fields.reduce((sum, field) => sum + recordFieldWidth(field), 0);
  const rows: number[][] = [];
  const problems: RecordProblem[] = [];
  records.forEach((record, row) => {
    if (!isPlainObject(record)) {
      problems.push({ row, field: '', reason: 'type', message: 'is not a JSON object' });
      return;
    }
    const mapped = recordColumns(step, record, row);
    problems.push(...mapped.problems);
    rows.push(mapped.columns);
  });
  if (problems.length > 0) throw recordError(input, problems);
  return { width, rows };
}

function recordError(input: string, problems: readonly RecordProblem[]): ConveyorError {
  const listed = problems.slice(0, MAX_LISTED);
  const first = listed[0] as RecordProblem;
  const where = (p: RecordProblem): string => `${input}[${p.row}]${p.field ? `.${p.field}` : ''}`;
  // The message names every problem (up to 10); the details list them all, and the catalogue
  // exposes them to every client (queue and HTTP too, bounded: see shared/src/failure.ts).
  const named = listed.slice(0, 10).map((p) => `${where(p)} ${p.message} (${p.reason})`);
  const more = problems.length > 10 ? `; and ${problems.length - 10} more` : '';
  return new ConveyorError('ERR_RECORD_FIELD', `bad record fields: ${named.join('; ')}${more}`, {
    details: {
      input,
      row: first.row,
      field: first.field,
      reason: first.reason,
      count: problems.length,
      fields: listed.map(({ row, field, reason }) => ({ row, field, reason })),
    },
    issues: listed.map((p) => ({ path: where(p), message: `${p.reason}: ${p.message}` })),
  });
}

/** Parses one element of the external `string` input: a JSON object's text. */
function parseRecord(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Rows of numbers as a `[rows, width]` tensor of `dtype`, its size checked before allocating. */
function writeColumns(
  dtype: 'float32' | 'float64' | 'int32' | 'int64',
  rows: readonly number[][],
  width: number,
  maxBytes: number,
  where: string,
): Tensor {
  const shape = [rows.length, width];
  checkedByteLength(dtype, shape, maxBytes, where);
  const flat = rows.flat();
  switch (dtype) {
    case 'float32':
      return createTensor(dtype, shape, Float32Array.from(flat), maxBytes, where);
    case 'float64':
      return createTensor(dtype, shape, Float64Array.from(flat), maxBytes, where);
    case 'int32':
      return createTensor(dtype, shape, Int32Array.from(flat), maxBytes, where);
    default:
      return createTensor(dtype, shape, BigInt64Array.from(flat, BigInt), maxBytes, where);
  }
}

/** Model input dtypes a record fills; integer ones take only integer, boolean and category fields. */
const RECORD_DTYPES = ['float32', 'float64', 'int32', 'int64'] as const;

type RecordDtype = (typeof RECORD_DTYPES)[number];

const isRecordDtype = (dtype: string): dtype is RecordDtype =>
  (RECORD_DTYPES as readonly string[]).includes(dtype);

function configError(message: string, details: Record<string, unknown>): ConveyorError {
  return new ConveyorError('ERR_MODEL_CONFIG_INVALID', message, { details });
}

/** A record every field accepts: defaults, else min (or 0 in range), false, the first category. */
export function sampleRecord(step: RecordStep): Record<string, unknown> {
  const value = (field: RecordField): unknown => {
    if (field.default !== undefined) return field.default;
    if (field.type === 'boolean') return false;
    if (field.type === 'category') return field.categories?.[0];
    if (field.min !== undefined) return field.min;
    return field.max !== undefined && field.max < 0 ? field.max : 0;
  };
  return Object.fromEntries(step.fields.map((field) => [field.name, value(field)]));
}

/** Checks the step against the model and builds it; throws ERR_MODEL_CONFIG_INVALID. */
function buildRecordStep({ name, config, model, context }: StepInit<RecordStep>): InputStep {
  const target =
    config.input ?? (model.inputs.length === 1 ? model.inputs[0]?.name : undefined) ?? name;
  const spec = model.inputs.find((input) => input.name === target);
  if (!spec) {
    throw configError(`record step "${name}": the model has no input "${target}"`, { target });
  }
  const dtype = spec.dtype;
  const width = config.fields.reduce((sum, field) => sum + recordFieldWidth(field), 0);
  if (!isRecordDtype(dtype) || spec.shape.length !== 2) {
    throw configError(
      `record step "${name}": input "${target}" must be rank 2 of float32, float64, int32 or int64, not ${dtype} [${spec.shape.join(', ')}]`,
      { target, dtype, shape: spec.shape },
    );
  }
  const columns = spec.shape[1] ?? -1;
  if (columns !== -1 && columns !== width) {
    throw configError(
      `record step "${name}": the fields fill ${width} columns but input "${target}" has ${columns}`,
      { target, width, columns },
    );
  }
  if (dtype.startsWith('int') && config.fields.some((field) => field.type === 'number')) {
    throw configError(
      `record step "${name}": input "${target}" is ${dtype}; use integer fields, not number`,
      { target, dtype },
    );
  }
  return {
    external: [{ name, dtype: 'string', shape: [-1], description: 'one JSON object per row' }],
    feeds: [target],
    run: (inputs: Tensors) =>
      new Promise<Tensors>((resolve) => {
        const texts = (inputs[name] as Tensor<'string'>).data;
        const { rows } = mapRecords(config, texts.map(parseRecord), name);
        const tensor = writeColumns(dtype, rows, width, context.maxTensorBytes, target);
        resolve({ [target]: tensor });
      }),
    sample: () =>
      Promise.resolve({
        [name]: createTensor('string', [1], [JSON.stringify(sampleRecord(config))]),
      }),
  };
}

/** The `record` step kind for `steps.ts`. */
export const RECORD_STEP: InputStepKind<RecordStep> = {
  role: 'input',
  // A promise executor turns a throw into a rejection, as callers of create and run expect.
  create: (init) => new Promise((resolve) => resolve(buildRecordStep(init))),
};
