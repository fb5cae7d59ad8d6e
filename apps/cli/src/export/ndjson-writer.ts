import type { Writable } from 'node:stream';
import type { LoggedPrediction, Tensor } from '@conveyor/shared';

/** A tensor as an export line holds it: its elements flat, in row-major order. */
export interface ExportedTensor {
  dtype: string;
  shape: number[];
  /** Numbers; 64-bit integers beyond 2^53 as decimal strings; strings; bytes as base64. */
  data: (number | string)[];
}

/** One prediction as a line of an NDJSON export. */
export interface ExportedPrediction {
  id: string;
  model: string;
  version: string;
  /** When it was logged, ISO 8601 (the Redis server's clock). */
  loggedAt: string;
  /** When its job completed, ISO 8601 (the worker's clock). */
  completedAt: string;
  queuedMs: number;
  inferenceMs: number;
  traceId: string | null;
  inputs: Record<string, ExportedTensor>;
  outputs: Record<string, ExportedTensor>;
}

function element(value: unknown): number | string {
  if (typeof value === 'bigint')
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value as number | string;
}

/** A tensor as plain JSON: dtype, shape and its elements flat. */
export function exportTensor(tensor: Tensor): ExportedTensor {
  return {
    dtype: tensor.dtype,
    shape: [...tensor.shape],
    data: Array.from(tensor.data as ArrayLike<unknown>, element),
  };
}

const tensorsOf = (tensors: Readonly<Record<string, Tensor>>) =>
  Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, exportTensor(t)]));

/** A logged prediction as one export line's object. */
export function exportPrediction(entry: LoggedPrediction): ExportedPrediction {
  return {
    id: entry.jobId,
    model: entry.model,
    version: entry.version,
    loggedAt: new Date(entry.loggedAt).toISOString(),
    completedAt: new Date(entry.completedAt).toISOString(),
    queuedMs: entry.queuedMs,
    inferenceMs: entry.inferenceMs,
    traceId: entry.traceId ?? null,
    inputs: tensorsOf(entry.inputs),
    outputs: tensorsOf(entry.outputs),
  };
}

/** Writes logged predictions to a stream, one JSON object per line. */
export function createNdjsonWriter(out: Writable): {
  write(entry: LoggedPrediction): Promise<void>;
  close(): Promise<void>;
} {
  return {
    async write(entry) {
      if (!out.write(`${JSON.stringify(exportPrediction(entry))}\n`))
        await new Promise((resolve) => out.once('drain', resolve));
    },
    close: () => Promise.resolve(),
  };
}
