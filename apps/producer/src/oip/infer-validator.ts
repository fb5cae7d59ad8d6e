import type { FastifySchemaCompiler } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import type { ZodType } from 'zod';
import { isModelName, isPlainRecord, isShape, isTensorName } from '@conveyor/shared';
import {
  BYTE_COUNT,
  InferHeadersSchema,
  InferRequestSchema,
  MAX_BINARY_DATA_SIZE,
  ModelParamsSchema,
  OIP_DATATYPES,
} from './schemas.js';

/**
 * A check that passes only values its zod schema accepts and returns unchanged (up to key order):
 * such a value is used as it came, and anything else goes to zod, which refuses it with its
 * issues or makes the value it returns. It may refuse more than zod, never less.
 */
type Unchanged = (value: unknown) => boolean;

const DATATYPES: ReadonlySet<unknown> = new Set(OIP_DATATYPES);

/** Whether every own key of `value` is one of `keys`, and none holds undefined. */
function onlyKeys(value: Record<string, unknown>, keys: readonly string[]): boolean {
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (!keys.includes(key) || value[key] === undefined) return false;
  }
  return true;
}

const INPUT_KEYS = ['name', 'shape', 'datatype', 'data', 'parameters'] as const;

/** The parameters of a binary input: its `binary_data_size` and nothing else. */
function isBinaryParameters(parameters: unknown): boolean {
  if (!isPlainRecord(parameters) || !onlyKeys(parameters, ['binary_data_size'])) return false;
  const size = parameters.binary_data_size;
  return (
    Number.isInteger(size) && (size as number) >= 0 && (size as number) <= MAX_BINARY_DATA_SIZE
  );
}

/**
 * An input with a shape, a datatype and either JSON `data` and no parameters, or (the binary
 * extension) no data and parameters that hold only its `binary_data_size`.
 */
function isPlainInput(input: unknown): boolean {
  if (!isPlainRecord(input) || !onlyKeys(input, INPUT_KEYS)) return false;
  const { name, shape, datatype, data, parameters } = input;
  const carried =
    data === undefined
      ? isBinaryParameters(parameters)
      : parameters === undefined && Array.isArray(data);
  return carried && DATATYPES.has(datatype) && isShape(shape) && isTensorName(name);
}

const REQUEST_KEYS = ['id', 'inputs'] as const;

/**
 * The common request: inputs with `data` (JSON) or with only their `binary_data_size` (the binary
 * extension), an optional `id`, no request parameters, no outputs.
 */
export const isPlainInferRequest: Unchanged = (body) => {
  if (!isPlainRecord(body) || !onlyKeys(body, REQUEST_KEYS)) return false;
  const { id, inputs } = body;
  if (id !== undefined && (typeof id !== 'string' || id.length > 256)) return false;
  if (!Array.isArray(inputs) || inputs.length < 1 || inputs.length > 64) return false;
  return inputs.every(isPlainInput);
};

/**
 * Headers zod would not change: no `Conveyor-Timeout-Ms` (it becomes a number), a binary extension
 * header length of digits or none, a `Prefer` string or none.
 */
export const isPlainInferHeaders: Unchanged = (headers) => {
  if (!isPlainRecord(headers) || headers['conveyor-timeout-ms'] !== undefined) return false;
  const length = headers['inference-header-content-length'];
  if (length !== undefined && !(typeof length === 'string' && BYTE_COUNT.test(length)))
    return false;
  return headers.prefer === undefined || typeof headers.prefer === 'string';
};

/** The prototype of fastify's path params (find-my-way's NullObject), once it has been seen. */
let paramsPrototype: object | undefined;

/**
 * A record of path params as fastify's router makes them: an object whose prototype is an empty
 * object with no prototype (find-my-way's `NullObject`), which isPlainRecord does not take; or a
 * plain object. Taken for plain, every request's path went through zod.
 */
function isParamsRecord(value: unknown): value is Record<string, unknown> {
  if (isPlainRecord(value)) return true;
  if (typeof value !== 'object' || value === null) return false;
  // Not null here: isPlainRecord takes an object without a prototype.
  const proto = Object.getPrototypeOf(value) as object;
  if (proto === paramsPrototype) return true;
  if (Object.getPrototypeOf(proto) !== null || Reflect.ownKeys(proto).length > 0) return false;
  paramsPrototype = proto;
  return true;
}

/** The path of `/v2/models/:name/infer`: a model name and no version. */
export const isPlainInferParams: Unchanged = (params) =>
  isParamsRecord(params) && onlyKeys(params, ['name']) && isModelName(params.name);

const UNCHANGED = new Map<unknown, Unchanged>([
  [InferRequestSchema, isPlainInferRequest],
  [InferHeadersSchema, isPlainInferHeaders],
  [ModelParamsSchema, isPlainInferParams],
]);

/**
 * The infer routes' validator compiler: zod's, behind a check that passes the common request as it
 * came. Parsing every body, header set and path through zod cost several µs of each accepted
 * request (a copy of every header and of each input object); the check walks the same values once
 * without copying. `infer-validator.test.ts` holds each check to its schema with fast-check.
 */
export const inferValidatorCompiler: FastifySchemaCompiler<ZodType> = (route) => {
  const zod = validatorCompiler(route);
  const unchanged = UNCHANGED.get(route.schema);
  if (unchanged === undefined) return zod;
  return (data: unknown) => (unchanged(data) ? { value: data } : zod(data));
};
