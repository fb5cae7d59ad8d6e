import {
  JobPayloadSchema,
  isBase64,
  isCount,
  isDtype,
  isJobId,
  isModelName,
  isModelVersion,
  isPlainRecord,
  isShape,
  isTensorMap,
  isTensorName,
  MAX_PLAIN_TENSORS,
  ownKeyCount,
  parseOrThrow,
  type JobPayload,
} from '@conveyor/shared';

/*
 * A job's payload is read once per job, so zod's parse of it (a copy of every object, a closure
 * per check) showed in the worker's profile. This hand-written check accepts only payloads that
 * JobPayloadSchema accepts (it is, if anything, stricter); whatever it does not accept goes to the
 * schema itself, which gives the same verdict and the same error as before.
 */

const PAYLOAD_KEYS: ReadonlySet<string> = new Set([
  'v',
  'model',
  'version',
  'inputs',
  'outputs',
  'deadline',
  'owner',
  'shadowedBy',
  'shadowOf',
  'unlogged',
]);

/** A WireTensorSchema or a BlobTensorSchema, with no other key. */
function isInputTensor(wire: unknown): boolean {
  if (!isPlainRecord(wire) || !isDtype(wire.dtype) || !isShape(wire.shape)) return false;
  if (ownKeyCount(wire) !== 3) return false;
  if ('blob' in wire) return wire.blob === true;
  return isBase64(wire.data);
}

function isOutputList(outputs: unknown): boolean {
  if (!Array.isArray(outputs) || outputs.length < 1 || outputs.length > MAX_PLAIN_TENSORS)
    return false;
  return (outputs as unknown[]).every(isTensorName);
}

/** Absent (no key at all), or passing `check`. */
const optional = (data: Record<string, unknown>, key: string, check: (v: unknown) => boolean) =>
  data[key] === undefined ? !(key in data) : check(data[key]);

/** True only for payloads JobPayloadSchema accepts unchanged. */
export function isPlainJobPayload(data: unknown): data is JobPayload {
  if (!isPlainRecord(data)) return false;
  for (const key in data) {
    if (!Object.hasOwn(data, key) || !PAYLOAD_KEYS.has(key)) return false;
  }
  return (
    data.v === 1 &&
    isModelName(data.model) &&
    optional(data, 'version', isModelVersion) &&
    isTensorMap(data.inputs, isInputTensor) &&
    optional(data, 'outputs', isOutputList) &&
    optional(data, 'deadline', (d) => isCount(d) && d > 0) &&
    optional(data, 'owner', (o) => typeof o === 'string' && o.length >= 1 && o.length <= 128) &&
    optional(data, 'shadowedBy', isJobId) &&
    optional(data, 'shadowOf', isJobId) &&
    optional(data, 'unlogged', (u) => u === true)
  );
}

/**
 * A job's payload as JobPayloadSchema reads it: ERR_PAYLOAD_INVALID, with the schema's issues,
 * when it is not one. Valid payloads are returned as they are, without zod's copy.
 */
export function readJobPayload(data: unknown, jobId: string): JobPayload {
  if (isPlainJobPayload(data)) return data;
  return parseOrThrow(JobPayloadSchema, data, `payload of job ${jobId}`, 'ERR_PAYLOAD_INVALID');
}
