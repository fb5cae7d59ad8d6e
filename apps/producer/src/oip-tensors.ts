import {
  ConveyorError,
  checkedByteLength,
  type Dtype,
  type Tensor,
  type TensorInputs,
} from '@conveyor/shared';
import { DTYPE_TO_OIP, OIP_TO_DTYPE, type InferInput, type InferOutput } from './schemas.js';

type Element = number | bigint | boolean;
type OutputElement = InferOutput['data'][number];

const INTEGER_TEXT = /^-?[0-9]{1,20}$/;

function invalid(
  where: string,
  message: string,
  details: Record<string, unknown> = {},
): ConveyorError {
  return new ConveyorError('ERR_TENSOR_INVALID', `${where}: ${message}`, { details });
}

/** Checks one element's JSON type against the datatype; 64-bit integers may come as decimal strings. */
function element(value: unknown, dtype: Dtype, where: string, index: number): Element {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') {
    if (dtype === 'bool') return value;
    throw invalid(where, `element ${index} is a boolean; ${DTYPE_TO_OIP[dtype]} takes numbers`);
  }
  // JSON numbers lose precision past 2^53, so INT64 and UINT64 values may be sent as strings.
  if (
    typeof value === 'string' &&
    (dtype === 'int64' || dtype === 'uint64') &&
    INTEGER_TEXT.test(value)
  ) {
    return BigInt(value);
  }
  const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
  throw invalid(where, `element ${index} is ${kind}, not a ${DTYPE_TO_OIP[dtype]} value`);
}

/**
 * The elements of an input in row-major order. Data may be flat, or nested exactly as `shape`
 * says; either way the element count must equal the product of the shape.
 */
function flatten(input: InferInput, dtype: Dtype, where: string): Element[] {
  const { shape, data } = input;
  const count = shape.reduce((a, b) => a * b, 1);
  const values: Element[] = [];
  if (!data.some((item) => Array.isArray(item))) {
    if (data.length !== count) {
      throw invalid(
        where,
        `shape [${shape.join(', ')}] holds ${count} elements but data has ${data.length}`,
        {
          shape,
          length: data.length,
        },
      );
    }
    data.forEach((value, i) => values.push(element(value, dtype, where, i)));
    return values;
  }
  const walk = (node: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      values.push(element(node, dtype, where, values.length));
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw invalid(
        where,
        `nested data at ${path} does not match shape [${shape.join(', ')}]: expected ${shape[depth]} entries`,
        {
          shape,
        },
      );
    }
    node.forEach((child: unknown, i) => walk(child, depth + 1, `${path}[${i}]`));
  };
  walk(data, 0, 'data');
  return values;
}

/**
 * Converts protocol input tensors to SDK inputs, refusing unsupported datatypes, repeated
 * names, shapes over `maxTensorBytes` (before walking the data) and data that does not fit.
 */
export function toSdkInputs(inputs: readonly InferInput[], maxTensorBytes: number): TensorInputs {
  const converted: Record<string, { data: Element[]; shape: number[]; dtype: Dtype }> = {};
  for (const [index, input] of inputs.entries()) {
    const where = `input "${input.name}"`;
    const dtype = OIP_TO_DTYPE[input.datatype];
    if (dtype === undefined) {
      throw new ConveyorError(
        'ERR_VALIDATION',
        `${where}: datatype ${input.datatype} is not supported yet`,
        {
          issues: [
            { path: `inputs.${index}.datatype`, message: `${input.datatype} is not supported yet` },
          ],
          details: { input: input.name, datatype: input.datatype },
        },
      );
    }
    if (Object.hasOwn(converted, input.name)) {
      throw new ConveyorError('ERR_VALIDATION', `${where} is given more than once`, {
        issues: [{ path: `inputs.${index}.name`, message: 'repeats an earlier input name' }],
      });
    }
    checkedByteLength(dtype, input.shape, maxTensorBytes, where);
    converted[input.name] = { data: flatten(input, dtype, where), shape: [...input.shape], dtype };
  }
  return converted;
}

/** Decodes IEEE 754 half-precision bits. */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
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
    default:
      return Array.from(data as ArrayLike<number>);
  }
}

/** Converts a prediction's outputs to protocol output tensors with flat row-major data. */
export function toOipOutputs(outputs: Readonly<Record<string, Tensor>>): InferOutput[] {
  return Object.entries(outputs).map(([name, tensor]) => ({
    name,
    shape: [...tensor.shape],
    datatype: DTYPE_TO_OIP[tensor.dtype],
    data: elements(tensor),
  }));
}
