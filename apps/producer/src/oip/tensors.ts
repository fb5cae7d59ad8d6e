import {
  ConveyorError,
  arrayMatchesDtype,
  checkedByteLength,
  createTensor,
  decodeBytes,
  halfToNumber,
  tensorBytes,
  toFloatElement,
  valueOutOfRange,
  type Dtype,
  type Tensor,
  type TensorData,
  type TensorInput,
  type TypedArray,
  type TensorInputs,
} from '@conveyor/shared';
import { BinaryReader, elementsFromBytes } from './binary.js';
import {
  DTYPE_TO_OIP,
  OIP_TO_DTYPE,
  type BinaryOutput,
  type InferInput,
  type InferOutput,
} from './schemas.js';

type Element = number | bigint | boolean | string;
type OutputElement = InferOutput['data'][number];

const INTEGER_TEXT = /^-?[0-9]{1,20}$/;
/** The strings that stand for non-finite floats in JSON, as proto3 JSON writes them. */
const NON_FINITE: ReadonlyMap<string, number> = new Map([
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
]);
const FLOATS: ReadonlySet<Dtype> = new Set(['float16', 'float32', 'float64']);

function invalid(
  where: string,
  message: string,
  details: Record<string, unknown> = {},
): ConveyorError {
  return new ConveyorError('ERR_TENSOR_INVALID', `${where}: ${message}`, { details });
}

/**
 * Checks one element's JSON type against the datatype; 64-bit integers may come as decimal strings
 * and non-finite floats as "NaN", "Infinity" and "-Infinity".
 */
function element(value: unknown, dtype: Dtype, where: string, index: number): Element {
  if (dtype === 'string') {
    if (typeof value === 'string') return value;
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    throw invalid(where, `element ${index} is ${kind}; BYTES takes strings`);
  }
  if (typeof value === 'number') {
    if (dtype !== 'bool') return value;
    throw invalid(where, `element ${index} is a number; BOOL takes true or false`);
  }
  if (typeof value === 'boolean') {
    if (dtype === 'bool') return value;
    throw invalid(where, `element ${index} is a boolean; ${DTYPE_TO_OIP[dtype]} takes numbers`);
  }
  if (typeof value === 'string') {
    // JSON numbers lose precision past 2^53, so INT64 and UINT64 values may be sent as strings.
    if ((dtype === 'int64' || dtype === 'uint64') && INTEGER_TEXT.test(value)) return BigInt(value);
    const float = NON_FINITE.get(value);
    if (float !== undefined && FLOATS.has(dtype)) return float;
  }
  const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
  throw invalid(where, `element ${index} is ${kind}, not a ${DTYPE_TO_OIP[dtype]} value`);
}

type FloatDtype = 'float16' | 'float32' | 'float64';
type FloatStorage = Float32Array | Float64Array | Uint16Array;

/**
 * Float elements straight into the tensor's storage (float16 as its bits), each checked against
 * the dtype's range by the shared `toFloatElement`: `1e39` as FP32 is ERR_INPUT_VALUE.
 */
function floatStorage(
  items: readonly unknown[],
  dtype: FloatDtype,
  where: string,
  input: string,
): FloatStorage {
  const count = items.length;
  const out =
    dtype === 'float32'
      ? new Float32Array(count)
      : dtype === 'float64'
        ? new Float64Array(count)
        : new Uint16Array(count);
  for (let i = 0; i < count; i++) {
    const value = items[i];
    if (typeof value !== 'number') {
      // "NaN", "Infinity" and "-Infinity" stand for themselves.
      out[i] = toFloatElement(dtype, element(value, dtype, where, i) as number, input, () => '');
      continue;
    }
    // JSON has no Infinity: a number that parsed to one was a literal past every float (1e400).
    if (value === Number.POSITIVE_INFINITY || value === Number.NEGATIVE_INFINITY)
      throw valueOutOfRange(input, `element ${i}`, value, dtype, 'finite JSON numbers');
    out[i] = toFloatElement(dtype, value, input, () => `element ${i}`);
  }
  return out;
}

/**
 * The elements of JSON data in row-major order. Data may be flat, or nested exactly as `shape`
 * says; either way the element count must equal the product of the shape.
 */
function flatten(
  shape: readonly number[],
  data: readonly unknown[],
  dtype: Dtype,
  input: string,
): Element[] | FloatStorage {
  const where = `input "${input}"`;
  const float = FLOATS.has(dtype) ? (dtype as FloatDtype) : undefined;
  const count = shape.reduce((a, b) => a * b, 1);
  if (!data.some((item) => Array.isArray(item))) {
    if (data.length !== count) {
      throw invalid(
        where,
        `shape [${shape.join(', ')}] holds ${count} elements but data has ${data.length}`,
        { shape, length: data.length },
      );
    }
    if (float) return floatStorage(data, float, where, input);
    const values: Element[] = new Array<Element>(count);
    for (let i = 0; i < count; i++) values[i] = element(data[i], dtype, where, i);
    return values;
  }
  const values: Element[] = [];
  // The path of a nested element is only spelled out for an error message.
  const indices: number[] = [];
  const walk = (node: unknown, depth: number): void => {
    if (depth === shape.length) {
      values.push(element(node, dtype, where, values.length));
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      const path = `data${indices.map((i) => `[${i}]`).join('')}`;
      throw invalid(
        where,
        `nested data at ${path} does not match shape [${shape.join(', ')}]: expected ${shape[depth]} entries`,
        { shape },
      );
    }
    for (let i = 0; i < node.length; i++) {
      indices.push(i);
      walk(node[i], depth + 1);
      indices.pop();
    }
  };
  walk(data, 0);
  return float ? floatStorage(values, float, where, input) : values;
}

/** One input's datatype as a Conveyor dtype (every protocol datatype has one). */
function dtypeOf(input: InferInput, index: number, where: string): Dtype {
  const dtype = OIP_TO_DTYPE[input.datatype];
  if (dtype !== undefined) return dtype;
  throw new ConveyorError(
    'ERR_DATATYPE_UNSUPPORTED',
    `${where}: datatype ${input.datatype} cannot be carried`,
    {
      issues: [{ path: `inputs.${index}.datatype`, message: `${input.datatype} is not supported` }],
      details: { input: input.name, datatype: input.datatype },
    },
  );
}

/**
 * A decoded input for the SDK: a tensor made by createTensor when the data is the dtype's own
 * array, which the SDK's prepareJob takes as it is (its size checked, no schema and no second
 * createTensor per request); otherwise the plain form, converted and checked by the SDK.
 */
function sdkInput(
  dtype: Dtype,
  shape: readonly number[],
  data: Element[] | TensorData,
  where: string,
): TensorInput {
  if (!Array.isArray(data) && arrayMatchesDtype(data, dtype))
    return createTensor(dtype, shape, data as never, Number.POSITIVE_INFINITY, where);
  return { data: data as TypedArray | Element[], shape, dtype };
}

/**
 * Converts protocol input tensors to SDK inputs. BYTES is read as the model declares the input:
 * for `string`, JSON strings and binary elements as UTF-8 text; for `bytes`, JSON strings as
 * base64 and binary elements as raw bytes (so BYTES inputs name no dtype, and the SDK's one
 * conversion decides by the signature). Refuses repeated names, shapes over
 * `maxTensorBytes` (before reading data) and data that does not fit. Inputs with
 * `parameters.binary_data_size` take their bytes, in order, from `binary` (the part of a body of
 * the binary tensor data extension after its JSON header), which they must use up exactly.
 */
export function toSdkInputs(
  inputs: readonly InferInput[],
  maxTensorBytes: number,
  binary?: Buffer,
): TensorInputs {
  const converted: Record<string, TensorInput> = {};
  const reader = new BinaryReader(binary);
  for (const [index, input] of inputs.entries()) {
    const where = `input "${input.name}"`;
    const dtype = dtypeOf(input, index, where);
    if (Object.hasOwn(converted, input.name)) {
      throw new ConveyorError('ERR_VALIDATION', `${where} is given more than once`, {
        issues: [{ path: `inputs.${index}.name`, message: 'repeats an earlier input name' }],
      });
    }
    const { bytes, elements } = checkedByteLength(dtype, input.shape, maxTensorBytes, where);
    const { shape } = input;
    const size = input.parameters?.binary_data_size;
    if (size !== undefined) {
      // BYTES elements are a 4-byte length and that many bytes each: only a floor is known.
      if (dtype === 'string' ? size < bytes || size > maxTensorBytes : size !== bytes) {
        throw invalid(
          where,
          dtype === 'string'
            ? `binary_data_size is ${size} bytes but shape [${shape.join(', ')}] of BYTES takes at least ${bytes} (a 4-byte length per element) and at most ${maxTensorBytes}`
            : `binary_data_size is ${size} bytes but shape [${shape.join(', ')}] of ${input.datatype} takes ${bytes}`,
          { size, bytes },
        );
      }
      const block = reader.take(size, where);
      converted[input.name] =
        dtype === 'string'
          ? { data: decodeBytes(block, elements, where), shape }
          : sdkInput(dtype, shape, elementsFromBytes(dtype, block, elements, where), where);
      continue;
    }
    const data = flatten(shape, input.data ?? [], dtype, input.name);
    // BYTES names no dtype: the model's signature says string (text) or bytes (raw, base64 in JSON).
    converted[input.name] =
      dtype === 'string' ? { data, shape } : sdkInput(dtype, shape, data, where);
  }
  reader.finish();
  return converted;
}

/** JSON has no NaN or Infinity; like proto3 JSON, they travel as "NaN", "Infinity", "-Infinity". */
const float = (value: number): number | string => (Number.isFinite(value) ? value : String(value));

function elements(tensor: Tensor): OutputElement[] {
  const data = tensor.data as ArrayLike<number | bigint>;
  switch (tensor.dtype) {
    case 'float32':
    case 'float64':
      return Array.from(data as ArrayLike<number>, float);
    case 'float16':
      return Array.from(data as ArrayLike<number>, (bits) => float(halfToNumber(bits)));
    case 'int64':
    case 'uint64':
      return Array.from(data as ArrayLike<bigint>, (v) => {
        const n = Number(v);
        return Number.isSafeInteger(n) ? n : v.toString();
      });
    case 'bool':
      return Array.from(data as ArrayLike<number>, (v) => v !== 0);
    case 'string':
      return [...(tensor.data as string[])];
    case 'bytes': // binary data in JSON: base64, as KServe's v2 protocol writes it
      return (tensor.data as Uint8Array[]).map((b) => Buffer.from(b).toString('base64'));
    default:
      return Array.from(data as ArrayLike<number>);
  }
}

/** How `toOipOutputs` writes the outputs. */
export interface OutputOptions {
  /** Output names in the order to write them (those the request listed); default as given. */
  order?: readonly string[];
  /** True for an output to send as binary data after the JSON header. Default none. */
  binary?: (name: string) => boolean;
}

/** Converts a prediction's outputs to protocol output tensors with flat row-major JSON data. */
export function toOipOutputs(outputs: Readonly<Record<string, Tensor>>): InferOutput[] {
  return Object.entries(outputs).map(([name, tensor]) => ({
    name,
    shape: [...tensor.shape],
    datatype: DTYPE_TO_OIP[tensor.dtype],
    data: elements(tensor),
  }));
}

/**
 * Converts a prediction's outputs to protocol output tensors: JSON outputs with flat row-major
 * `data`, binary ones with `parameters.binary_data_size` and their bytes in `blocks`, in order.
 */
export function encodeOipOutputs(
  outputs: Readonly<Record<string, Tensor>>,
  options: OutputOptions = {},
): { outputs: (InferOutput | BinaryOutput)[]; blocks: Uint8Array[] } {
  const names =
    options.order?.filter((name) => Object.hasOwn(outputs, name)) ?? Object.keys(outputs);
  const blocks: Uint8Array[] = [];
  const written = names.map((name): InferOutput | BinaryOutput => {
    const tensor = outputs[name] as Tensor;
    const head = { name, shape: [...tensor.shape], datatype: DTYPE_TO_OIP[tensor.dtype] };
    if (options.binary?.(name) !== true) return { ...head, data: elements(tensor) };
    const bytes = tensorBytes(tensor);
    blocks.push(bytes);
    return { ...head, parameters: { binary_data_size: bytes.byteLength } };
  });
  return { outputs: written, blocks };
}
