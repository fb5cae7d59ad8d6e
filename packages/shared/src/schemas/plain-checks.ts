import { DTYPES } from '../tensor/dtype.js';

/*
 * Hand-written twins of a few zod checks, for the two places that validate every job (the
 * worker's payload read, the client's result read): zod's parse of them (a copy of every object,
 * a closure per check) showed in both profiles. Each check accepts only what its schema accepts;
 * callers send whatever fails to the schema itself for the verdict and the error.
 */

// The patterns of ModelNameSchema, ModelVersionSchema, AliasNameSchema, OwnerSchema,
// TensorNameSchema, JobIdSchema and zod's base64.
const MODEL = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const VERSION = /^[1-9][0-9]{0,8}$/;
const ALIAS = /^[a-z][a-z0-9_-]{0,31}$/;
const OWNER = /^[A-Za-z0-9_.@:-]{1,128}$/;
const TENSOR_NAME = /^[^\p{Cc}]+$/u;
const JOB_ID = /^[a-z0-9][a-z0-9_-]{0,63}\.[1-9][0-9]{0,8}\.[A-Za-z0-9-]{1,64}$/;
const BASE64 = /^$|^(?:[0-9a-zA-Z+/]{4})*(?:(?:[0-9a-zA-Z+/]{2}==)|(?:[0-9a-zA-Z+/]{3}=))?$/;
const DTYPE_SET: ReadonlySet<unknown> = new Set(DTYPES);

/** Tensors in one map at most (the schemas' tensor maps). */
export const MAX_PLAIN_TENSORS = 64;

/** A plain object (an object literal or JSON.parse's, or one without a prototype). */
export function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Own keys of `value`, or -1 when it has an inherited enumerable one. */
export function ownKeyCount(value: Record<string, unknown>): number {
  let keys = 0;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) return -1;
    keys += 1;
  }
  return keys;
}

export const isModelName = (name: unknown): name is string =>
  typeof name === 'string' && MODEL.test(name);

export const isModelVersion = (version: unknown): version is string =>
  typeof version === 'string' && VERSION.test(version);

export const isAliasName = (name: unknown): name is string =>
  typeof name === 'string' && ALIAS.test(name);

export const isOwner = (owner: unknown): owner is string =>
  typeof owner === 'string' && OWNER.test(owner);

export const isJobId = (id: unknown): id is string =>
  typeof id === 'string' && id.length <= 160 && JOB_ID.test(id);

export const isTensorName = (name: unknown): name is string =>
  typeof name === 'string' && name.length >= 1 && name.length <= 256 && TENSOR_NAME.test(name);

export const isBase64 = (text: unknown): text is string =>
  typeof text === 'string' && BASE64.test(text);

export const isDtype = (dtype: unknown): boolean => DTYPE_SET.has(dtype);

/** A non-negative safe integer. */
export const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** At most 16 dimensions, each a count. */
export function isShape(shape: unknown): boolean {
  if (!Array.isArray(shape) || shape.length > 16) return false;
  for (const dim of shape as unknown[]) if (!isCount(dim)) return false;
  return true;
}

/**
 * A map of 1 to 64 tensors by name, each passing `isTensor`; zod's record does not take an own
 * "__proto__" key.
 */
export function isTensorMap(map: unknown, isTensor: (tensor: unknown) => boolean): boolean {
  if (!isPlainRecord(map)) return false;
  let count = 0;
  for (const name in map) {
    if (!Object.hasOwn(map, name)) return false;
    count += 1;
    if (count > MAX_PLAIN_TENSORS || name === '__proto__' || !isTensorName(name)) return false;
    if (!isTensor(map[name])) return false;
  }
  return count > 0;
}
