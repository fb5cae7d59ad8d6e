/**
 * A gRPC `ModelInferRequest` as the REST infer body the core reads: typed `contents` become JSON
 * `data`, and `raw_input_contents` (and BYTES `bytes_contents`) become the binary part of the
 * binary tensor data extension, each input naming its `binary_data_size`. The result is then
 * checked by REST's own schema, so both protocols refuse the same requests with the same codes.
 */
import { ConveyorError } from '@conveyor/shared';
import {
  InferRequestSchema,
  ModelParamsSchema,
  OIP_DATATYPES,
  type InferRequest,
} from '../oip/schemas.js';
import type {
  InferInputTensor,
  InferParameters,
  InferTensorContents,
  Int64,
  ModelInferRequest,
} from './proto.js';
import { invalidRequest } from './status.js';

/** A REST request built from a gRPC one. */
export interface RestInfer {
  name: string;
  version: string | undefined;
  body: InferRequest;
  /** The binary part of the body: every raw input's bytes in input order. */
  binary: Buffer | undefined;
}

type ParameterValue = string | number | boolean;

/** The `contents` field that carries each datatype. */
const CONTENTS_FIELD: Readonly<Record<string, keyof InferTensorContents>> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};

/** An int64 as a number when it is one exactly, else as its text (REST's rule for INT64 data). */
function int64Value(value: Int64): number | string {
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : String(value);
}

/** Plain `parameters` values, as REST takes them in JSON. */
export function plainParameters(parameters: InferParameters): Record<string, ParameterValue> {
  const out: Record<string, ParameterValue> = {};
  for (const [key, parameter] of Object.entries(parameters)) {
    const choice = parameter.parameter_choice;
    if (choice === 'bool_param') out[key] = parameter.bool_param === true;
    else if (choice === 'int64_param') out[key] = int64Value(parameter.int64_param ?? 0);
    else if (choice === 'string_param') out[key] = parameter.string_param ?? '';
  }
  return out;
}

/**
 * A model name and version (empty: the newest) checked as REST checks its path: ERR_VALIDATION
 * for a name that no model can have.
 */
export function modelParams(
  name: string,
  version: string,
): { name: string; version?: string | undefined } {
  const params = ModelParamsSchema.safeParse({ name, ...(version !== '' && { version }) });
  if (!params.success) throw invalidRequest(params.error, 'model name or version');
  return params.data;
}

/** JSON has no NaN or Infinity: REST takes them as "NaN", "Infinity" and "-Infinity". */
const floatValue = (value: number): number | string =>
  Number.isFinite(value) ? value : String(value);

/** The elements of typed contents as REST JSON data, or BYTES as length-prefixed bytes. */
function fromContents(input: InferInputTensor, index: number): unknown[] | Buffer {
  const contents = input.contents;
  const field = CONTENTS_FIELD[input.datatype];
  // A datatype the protocol does not name is refused by the schema, with REST's message.
  const known = (OIP_DATATYPES as readonly string[]).includes(input.datatype);
  const used = contents
    ? (Object.entries(contents) as [string, unknown][]).filter(
        ([, values]) => Array.isArray(values) && values.length > 0,
      )
    : [];
  const other = used.find(([key]) => key !== field);
  if (known && other !== undefined) {
    throw new ConveyorError(
      'ERR_TENSOR_INVALID',
      `input "${input.name}": ${input.datatype} elements go in ${field ?? 'raw_input_contents'}, not ${other[0]}`,
      {
        issues: [
          { path: `inputs.${index}.contents.${other[0]}`, message: 'does not match the datatype' },
        ],
      },
    );
  }
  if (contents === null || field === undefined) return [];
  if (field === 'bytes_contents') {
    const parts = contents.bytes_contents;
    const out = Buffer.allocUnsafe(parts.reduce((n, part) => n + 4 + part.length, 0));
    let at = 0;
    for (const part of parts) {
      out.writeUInt32LE(part.length, at);
      part.copy(out, at + 4);
      at += 4 + part.length;
    }
    return out;
  }
  if (field === 'int64_contents' || field === 'uint64_contents')
    return contents[field].map(int64Value);
  if (field === 'fp32_contents' || field === 'fp64_contents')
    return contents[field].map(floatValue);
  return contents[field];
}

/**
 * Converts a call's request. `raw_input_contents`, when given, holds one block per input in input
 * order, and then no input has `contents`, as the protocol says.
 */
export function toRestInfer(request: ModelInferRequest): RestInfer {
  const raw = request.raw_input_contents;
  if (raw.length > 0 && raw.length !== request.inputs.length) {
    throw new ConveyorError(
      'ERR_TENSOR_INVALID',
      `raw_input_contents has ${raw.length} blocks for ${request.inputs.length} inputs; send one per input, in input order`,
      { details: { blocks: raw.length, inputs: request.inputs.length } },
    );
  }
  const blocks: Buffer[] = [];
  const inputs = request.inputs.map((input, index) => {
    const head = {
      name: input.name,
      shape: input.shape.map(Number),
      datatype: input.datatype,
    };
    const parameters = plainParameters(input.parameters);
    let block = raw[index];
    if (block !== undefined && input.contents !== null) {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        `input "${input.name}" has contents while the request uses raw_input_contents; use one or the other`,
        {
          issues: [
            { path: `inputs.${index}.contents`, message: 'not allowed with raw_input_contents' },
          ],
        },
      );
    }
    if (block === undefined) {
      const data = fromContents(input, index);
      if (!Buffer.isBuffer(data)) return { ...head, parameters, data };
      block = data;
    }
    blocks.push(block);
    return { ...head, parameters: { ...parameters, binary_data_size: block.length } };
  });
  const params = modelParams(request.model_name, request.model_version);
  const parameters = plainParameters(request.parameters);
  const body = InferRequestSchema.safeParse({
    ...(request.id !== '' && { id: request.id }),
    ...(Object.keys(parameters).length > 0 && { parameters }),
    inputs: inputs.map(({ parameters: own, ...input }) =>
      Object.keys(own).length > 0 ? { ...input, parameters: own } : input,
    ),
    ...(request.outputs.length > 0 && {
      outputs: request.outputs.map((output) => {
        const own = plainParameters(output.parameters);
        return Object.keys(own).length > 0
          ? { name: output.name, parameters: own }
          : { name: output.name };
      }),
    }),
  });
  if (!body.success) throw invalidRequest(body.error);
  return {
    name: params.name,
    version: params.version,
    body: body.data,
    // One block (the common case) is used as it is, without a copy.
    binary:
      blocks.length === 0 ? undefined : blocks.length === 1 ? blocks[0] : Buffer.concat(blocks),
  };
}
