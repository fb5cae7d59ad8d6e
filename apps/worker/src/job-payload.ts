import { DTYPES, JobPayloadSchema, parseOrThrow, type JobPayload } from '@conveyor/shared';

/*
 * A job's payload is read once per job, so zod's parse of it (a copy of every object, a closure
 * per check) showed in the worker's profile. This hand-written check accepts only payloads that
 * JobPayloadSchema accepts (it is, if anything, stricter); whatever it does not accept goes to the
 * schema itself, which gives the same verdict and the same error as before.
 */

// The patterns of ModelNameSchema, ModelVersionSchema, TensorNameSchema and JobIdSchema, and zod's
// base64.
const MODEL = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const VERSION = /^[1-9][0-9]{0,8}$/;
const JOB_ID = /^[a-z0-9][a-z0-9_-]{0,63}\.[1-9][0-9]{0,8}\.[A-Za-z0-9-]{1,64}$/;
const TENSOR_NAME = /^[^\p{Cc}]+$/u;
const BASE64 = /^$|^(?:[0-9a-zA-Z+/]{4})*(?:(?:[0-9a-zA-Z+/]{2}==)|(?:[0-9a-zA-Z+/]{3}=))?$/;
const DTYPE_SET: ReadonlySet<unknown> = new Set(DTYPES);
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
const MAX_TENSORS = 64;

function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function isTensorName(name: unknown): boolean {
  return (
    typeof name === 'string' && name.length >= 1 && name.length <= 256 && TENSOR_NAME.test(name)
  );
}

function isShape(shape: unknown): boolean {
  if (!Array.isArray(shape) || shape.length > 16) return false;
  for (const dim of shape as unknown[]) {
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) return false;
  }
  return true;
}

/** A WireTensorSchema or a BlobTensorSchema, with no other key. */
function isInputTensor(wire: unknown): boolean {
  if (!isRecord(wire) || !DTYPE_SET.has(wire.dtype) || !isShape(wire.shape)) return false;
  let keys = 0;
  for (const key in wire) {
    if (!Object.hasOwn(wire, key)) return false;
    keys += 1;
  }
  if (keys !== 3) return false;
  if ('blob' in wire) return wire.blob === true;
  return typeof wire.data === 'string' && BASE64.test(wire.data);
}

function isInputMap(inputs: unknown): boolean {
  if (!isRecord(inputs)) return false;
  let count = 0;
  for (const name in inputs) {
    if (!Object.hasOwn(inputs, name)) return false;
    count += 1;
    // zod's record does not take an own "__proto__" key.
    if (count > MAX_TENSORS || name === '__proto__' || !isTensorName(name)) return false;
    if (!isInputTensor(inputs[name])) return false;
  }
  return count > 0;
}

function isOutputList(outputs: unknown): boolean {
  if (!Array.isArray(outputs) || outputs.length < 1 || outputs.length > MAX_TENSORS) return false;
  return (outputs as unknown[]).every(isTensorName);
}

/** JobIdSchema's check of an optional key (absent, or a job id). */
function isOptionalJobId(data: Record<string, unknown>, key: string): boolean {
  const id = data[key];
  if (id === undefined) return !(key in data);
  return typeof id === 'string' && id.length <= 160 && JOB_ID.test(id);
}

/** True only for payloads JobPayloadSchema accepts unchanged. */
export function isPlainJobPayload(data: unknown): data is JobPayload {
  if (!isRecord(data)) return false;
  for (const key in data) {
    if (!Object.hasOwn(data, key) || !PAYLOAD_KEYS.has(key)) return false;
  }
  const { v, model, version, inputs, outputs, deadline, owner } = data;
  return (
    isOptionalJobId(data, 'shadowedBy') &&
    isOptionalJobId(data, 'shadowOf') &&
    (data.unlogged === undefined ? !('unlogged' in data) : data.unlogged === true) &&
    v === 1 &&
    typeof model === 'string' &&
    MODEL.test(model) &&
    (version === undefined ? !('version' in data) : typeof version === 'string') &&
    (version === undefined || VERSION.test(version as string)) &&
    isInputMap(inputs) &&
    (outputs === undefined ? !('outputs' in data) : isOutputList(outputs)) &&
    (deadline === undefined
      ? !('deadline' in data)
      : typeof deadline === 'number' && Number.isSafeInteger(deadline) && deadline > 0) &&
    (owner === undefined
      ? !('owner' in data)
      : typeof owner === 'string' && owner.length >= 1 && owner.length <= 128)
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
