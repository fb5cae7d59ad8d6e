import { DTYPES, JOB_PAYLOAD_VERSION, type JobResult } from '@conveyor/shared';

/*
 * Every result a client waits for is validated once on arrival, and zod's parse of it (a copy of
 * every object, a closure per check) was the largest cost of reading a result in the client's
 * profile. This hand-written check accepts only results that JobResultSchema accepts (it is, if
 * anything, stricter); whatever it does not accept goes to the schema, which gives the verdict and
 * the error as before. The worker reads payloads the same way (apps/worker/src/job-payload.ts).
 */

// The patterns of ModelNameSchema, ModelVersionSchema and TensorNameSchema, and zod's base64.
const MODEL = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const VERSION = /^[1-9][0-9]{0,8}$/;
const TENSOR_NAME = /^[^\p{Cc}]+$/u;
const BASE64 = /^$|^(?:[0-9a-zA-Z+/]{4})*(?:(?:[0-9a-zA-Z+/]{2}==)|(?:[0-9a-zA-Z+/]{3}=))?$/;
const DTYPE_SET: ReadonlySet<unknown> = new Set(DTYPES);
const MAX_TENSORS = 64;

function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Own keys of `value`, or -1 when it has an inherited enumerable one. */
function ownKeyCount(value: Record<string, unknown>): number {
  let keys = 0;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) return -1;
    keys += 1;
  }
  return keys;
}

const isCount = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
const isDuration = (n: unknown): boolean => typeof n === 'number' && Number.isFinite(n) && n >= 0;

function isShape(shape: unknown): boolean {
  if (!Array.isArray(shape) || shape.length > 16) return false;
  for (const dim of shape as unknown[]) if (!isCount(dim)) return false;
  return true;
}

/** A WireTensorSchema or a StoredTensorSchema, with no other key. */
function isOutputTensor(wire: unknown): boolean {
  if (!isRecord(wire) || !DTYPE_SET.has(wire.dtype) || !isShape(wire.shape)) return false;
  const keys = ownKeyCount(wire);
  if ('data' in wire) return keys === 3 && typeof wire.data === 'string' && BASE64.test(wire.data);
  return keys === 4 && isCount(wire.at) && isCount(wire.bytes);
}

function isOutputMap(outputs: unknown): boolean {
  if (!isRecord(outputs)) return false;
  let count = 0;
  for (const name in outputs) {
    if (!Object.hasOwn(outputs, name)) return false;
    count += 1;
    // zod's record does not take an own "__proto__" key.
    if (count > MAX_TENSORS || name === '__proto__' || name.length > 256) return false;
    if (!TENSOR_NAME.test(name) || !isOutputTensor(outputs[name])) return false;
  }
  return count > 0;
}

function isTimings(timings: unknown): boolean {
  if (!isRecord(timings)) return false;
  const { queuedMs, inferenceMs, runMs, batchRows } = timings;
  const keys = 2 + ('runMs' in timings ? 1 : 0) + ('batchRows' in timings ? 1 : 0);
  return (
    ownKeyCount(timings) === keys &&
    isDuration(queuedMs) &&
    isDuration(inferenceMs) &&
    (!('runMs' in timings) || isDuration(runMs)) &&
    (!('batchRows' in timings) || isCount(batchRows))
  );
}

/** True only for results JobResultSchema accepts unchanged. */
export function isPlainJobResult(value: unknown): value is JobResult {
  if (!isRecord(value) || ownKeyCount(value) !== 5) return false;
  const { v, model, version, outputs, timings } = value;
  return (
    v === JOB_PAYLOAD_VERSION &&
    typeof model === 'string' &&
    MODEL.test(model) &&
    typeof version === 'string' &&
    VERSION.test(version) &&
    isOutputMap(outputs) &&
    isTimings(timings)
  );
}
