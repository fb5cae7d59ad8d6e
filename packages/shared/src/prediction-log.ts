import { z } from 'zod';
import { ConveyorError, isConveyorError } from './errors.js';
import { modelKey } from './naming.js';
import { TensorNameSchema } from './schemas/names.js';
import { StoredTensorSchema, tensorBytes, tensorFromBytes } from './tensor/codec.js';
import type { Tensor } from './tensor/tensor.js';

/**
 * The prediction log of a model: a Redis stream of sampled predictions (inputs, outputs, version,
 * latency, trace id), capped by entries and by bytes. Its entry ids are the Redis server's clock.
 */
export function predictionLogKey(prefix: string, model: string): string {
  return modelKey(prefix, model, 'log');
}

/** The total bytes of the entries in a model's prediction log (see predictionLogKey). */
export function predictionLogBytesKey(prefix: string, model: string): string {
  return modelKey(prefix, model, 'log', 'bytes');
}

/** A hash from job id to the log entry id of its prediction, trimmed with the log. */
export function predictionLogIndexKey(prefix: string, model: string): string {
  return modelKey(prefix, model, 'log', 'index');
}

/** `log` in model.json: how much of a model's traffic its prediction log keeps. */
export const PredictionLogConfigSchema = z
  .object({
    /** Share of completed predictions logged, 0 to 1. Default: PREDICTION_LOG_SAMPLE. */
    sample: z.number().min(0).max(1).optional(),
  })
  .strict();

export type PredictionLogConfig = z.infer<typeof PredictionLogConfigSchema>;

/** A prediction as its log entry holds it. */
export interface LoggedPrediction {
  /** The stream entry id, `<ms>-<seq>`: a cursor for reading on after it. */
  entryId: string;
  /** The prediction id: its job's id. */
  jobId: string;
  model: string;
  version: string;
  /** The input tensors the model was given (empty if they were not kept). */
  inputs: Record<string, Tensor>;
  outputs: Record<string, Tensor>;
  /** ms from enqueue until a worker took the job. */
  queuedMs: number;
  /** ms of inference. */
  inferenceMs: number;
  traceId?: string;
  /** The API key that enqueued it (its job's `owner`): only it, or an admin key, sends feedback. */
  owner?: string;
  /** When the job completed, ms since the epoch (the worker's clock). */
  completedAt: number;
  /** When it was logged, ms since the epoch (the Redis server's clock; the entry id's time). */
  loggedAt: number;
}

const TensorsMetaSchema = z.record(TensorNameSchema, StoredTensorSchema);

const EntryFieldsSchema = z.object({
  id: z.string().min(1),
  v: z.string().min(1),
  t: z.coerce.number().int().nonnegative(),
  q: z.coerce.number().nonnegative(),
  inf: z.coerce.number().nonnegative(),
  tr: z.string().optional(),
  o: z.string().optional(),
  in: z.string(),
  out: z.string(),
});

/**
 * Tensors as stream fields: their metadata (dtype, shape, offset and size of each) as JSON, and
 * their bytes one after another, raw.
 */
export function packTensors(tensors: Readonly<Record<string, Tensor>>): {
  meta: string;
  bytes: Buffer;
} {
  const meta: Record<string, z.infer<typeof StoredTensorSchema>> = {};
  const parts: Buffer[] = [];
  let at = 0;
  for (const [name, tensor] of Object.entries(tensors)) {
    const data = tensorBytes(tensor);
    meta[name] = { dtype: tensor.dtype, shape: [...tensor.shape], at, bytes: data.byteLength };
    parts.push(data);
    at += data.byteLength;
  }
  return { meta: JSON.stringify(meta), bytes: Buffer.concat(parts, at) };
}

/** Tensors from the fields packTensors wrote; throws ERR_PAYLOAD_INVALID (or a ZodError) on bad ones. */
export function unpackTensors(meta: string, bytes: Buffer, where: string): Record<string, Tensor> {
  const parsed = TensorsMetaSchema.parse(JSON.parse(meta));
  const tensors: Record<string, Tensor> = {};
  for (const [name, stored] of Object.entries(parsed)) {
    if (stored.at + stored.bytes > bytes.byteLength)
      throw new ConveyorError(
        'ERR_PAYLOAD_INVALID',
        `${where}: tensor "${name}" runs past its bytes`,
      );
    tensors[name] = tensorFromBytes(
      stored.dtype,
      stored.shape,
      bytes.subarray(stored.at, stored.at + stored.bytes),
      { maxBytes: Number.POSITIVE_INFINITY, where: `${where} tensor "${name}"` },
    );
  }
  return tensors;
}

/** What a worker logs of one prediction. */
export interface PredictionLogRecord {
  jobId: string;
  version: string;
  inputs?: Readonly<Record<string, Tensor>> | undefined;
  outputs: Readonly<Record<string, Tensor>>;
  queuedMs: number;
  inferenceMs: number;
  traceId?: string | undefined;
  owner?: string | undefined;
  completedAt: number;
}

/**
 * A prediction as the field and value pairs of its log entry, and the bytes they take (the sum of
 * every field's and value's length: what the log's byte budget counts).
 */
export function encodeLogEntry(record: PredictionLogRecord): {
  fields: (string | Buffer)[];
  bytes: number;
} {
  const inputs = packTensors(record.inputs ?? {});
  const outputs = packTensors(record.outputs);
  const round = (ms: number) => String(Math.round(ms * 1000) / 1000);
  const fields: (string | Buffer)[] = [
    'id',
    record.jobId,
    'v',
    record.version,
    't',
    String(record.completedAt),
    'q',
    round(record.queuedMs),
    'inf',
    round(record.inferenceMs),
    ...(record.traceId ? ['tr', record.traceId] : []),
    ...(record.owner !== undefined ? ['o', record.owner] : []),
    'in',
    inputs.meta,
    'inb',
    inputs.bytes,
    'out',
    outputs.meta,
    'outb',
    outputs.bytes,
  ];
  const bytes = fields.reduce<number>(
    (n, f) => n + (typeof f === 'string' ? Buffer.byteLength(f) : f.byteLength),
    0,
  );
  return { fields, bytes };
}

/** The entry id's time, ms since the epoch. */
export function msOfEntryId(entryId: string): number {
  return Number(entryId.slice(0, entryId.indexOf('-')));
}

/**
 * Decodes one log entry as XRANGE returns it with Buffer replies (id, then field and value
 * pairs). Throws ERR_PAYLOAD_INVALID for an entry that is not a prediction log entry.
 */
export function decodeLogEntry(
  model: string,
  entryId: string,
  pairs: readonly Buffer[],
): LoggedPrediction {
  const where = `prediction log entry ${entryId} of model "${model}"`;
  const raw: Record<string, Buffer> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2)
    raw[(pairs[i] as Buffer).toString()] = pairs[i + 1] as Buffer;
  const text = Object.fromEntries(
    Object.entries(raw)
      .filter(([field]) => field !== 'inb' && field !== 'outb')
      .map(([field, value]) => [field, value.toString()]),
  );
  const parsed = EntryFieldsSchema.safeParse(text);
  if (!parsed.success)
    throw new ConveyorError('ERR_PAYLOAD_INVALID', `${where} is not a prediction`, {
      details: { entryId },
    });
  const f = parsed.data;
  try {
    return {
      entryId,
      jobId: f.id,
      model,
      version: f.v,
      inputs: unpackTensors(f.in, raw.inb ?? Buffer.alloc(0), where),
      outputs: unpackTensors(f.out, raw.outb ?? Buffer.alloc(0), where),
      queuedMs: f.q,
      inferenceMs: f.inf,
      ...(f.tr !== undefined && { traceId: f.tr }),
      ...(f.o !== undefined && { owner: f.o }),
      completedAt: f.t,
      loggedAt: msOfEntryId(entryId),
    };
  } catch (error) {
    if (isConveyorError(error)) throw error;
    throw new ConveyorError('ERR_PAYLOAD_INVALID', `${where} has unreadable tensors`, {
      cause: error,
      details: { entryId },
    });
  }
}
