import { once } from 'node:events';
import type { Writable } from 'node:stream';
import {
  Binary,
  Field,
  Float64,
  Int32,
  List,
  RecordBatchFileWriter,
  Schema,
  Struct,
  Table,
  TimestampMillisecond,
  Utf8,
  vectorFromArray,
  type DataType,
} from 'apache-arrow';
import { tensorBytes, type LoggedPrediction, type Tensor } from '@conveyor/shared';

/**
 * A tensor in an Arrow export: its name, dtype, shape and its elements as raw little-endian
 * bytes (`numpy.frombuffer(data, dtype).reshape(shape)`; string elements each as a 4-byte
 * little-endian length and their UTF-8 bytes).
 */
const TENSOR = new Struct([
  new Field('name', new Utf8(), false),
  new Field('dtype', new Utf8(), false),
  new Field('shape', new List(new Field('item', new Int32(), false)), false),
  new Field('data', new Binary(), false),
]);
const TENSORS = new List(new Field('item', TENSOR, false));

/** The columns of an Arrow export, one row per prediction. */
export const EXPORT_SCHEMA = new Schema([
  new Field('id', new Utf8(), false),
  new Field('model', new Utf8(), false),
  new Field('version', new Utf8(), false),
  new Field('logged_at', new TimestampMillisecond(), false),
  new Field('completed_at', new TimestampMillisecond(), false),
  new Field('queued_ms', new Float64(), false),
  new Field('inference_ms', new Float64(), false),
  new Field('trace_id', new Utf8(), true),
  new Field('inputs', TENSORS, false),
  new Field('outputs', TENSORS, false),
]);

/** Predictions per record batch: bounds memory on long exports. */
const BATCH_ROWS = 1024;

const tensorsOf = (tensors: Readonly<Record<string, Tensor>>) =>
  Object.entries(tensors).map(([name, t]) => ({
    name,
    dtype: t.dtype,
    shape: [...t.shape],
    data: new Uint8Array(tensorBytes(t)),
  }));

function column(values: readonly unknown[], type: DataType) {
  return vectorFromArray(values, type);
}

function tableOf(rows: readonly LoggedPrediction[]): Table {
  const fields = EXPORT_SCHEMA.fields;
  const values: unknown[][] = [
    rows.map((r) => r.jobId),
    rows.map((r) => r.model),
    rows.map((r) => r.version),
    rows.map((r) => r.loggedAt),
    rows.map((r) => r.completedAt),
    rows.map((r) => r.queuedMs),
    rows.map((r) => r.inferenceMs),
    rows.map((r) => r.traceId ?? null),
    rows.map((r) => tensorsOf(r.inputs)),
    rows.map((r) => tensorsOf(r.outputs)),
  ];
  return new Table(
    Object.fromEntries(
      fields.map((f: Field, i) => [f.name, column(values[i] ?? [], f.type as DataType)]),
    ),
  );
}

/** Writes logged predictions to a stream as an Arrow IPC file, in record batches. */
export function createArrowWriter(out: Writable): {
  write(entry: LoggedPrediction): Promise<void>;
  close(): Promise<void>;
} {
  const writer = new RecordBatchFileWriter();
  const stream = writer.toNodeStream();
  stream.pipe(out);
  const ended = once(out, 'finish');
  let rows: LoggedPrediction[] = [];
  let wroteAny = false;
  const flush = () => {
    if (rows.length === 0 && wroteAny) return;
    writer.write(rows.length === 0 ? new Table(EXPORT_SCHEMA) : tableOf(rows));
    wroteAny = true;
    rows = [];
  };
  return {
    write(entry) {
      rows.push(entry);
      if (rows.length >= BATCH_ROWS) flush();
      return Promise.resolve();
    },
    async close() {
      flush();
      writer.finish();
      await ended;
    },
  };
}
