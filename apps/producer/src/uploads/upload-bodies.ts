/**
 * An upload as the JSON body its route reads (checked by the route's own schema after this), and
 * the binary part its file inputs point into: each input named by file parts is a BYTES tensor of
 * one element per part, in the binary tensor data extension's layout (length-prefixed elements,
 * `parameters.binary_data_size`). So an upload goes through the same conversion as a binary
 * request: the model's signature decides whether the elements are bytes or UTF-8 text.
 */
import { ConveyorError, encodeBytes } from '@conveyor/shared';
import type { Upload } from './multipart-upload.js';

/** A body built from an upload, and the binary part of its file inputs. */
export interface UploadBody {
  body: Record<string, unknown>;
  binary: Buffer | undefined;
}

/** A JSON text field; ERR_VALIDATION, naming the field, when it is not JSON. */
function jsonField(name: string, value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new ConveyorError('ERR_VALIDATION', `multipart field "${name}" is not JSON`, {
      issues: [{ path: `body.${name}`, message: 'is not JSON' }],
    });
  }
}

/** The file inputs of an upload: by input name, one BYTES tensor of one element per part. */
function fileInputs(upload: Upload): { name: string; tensor: object; block: Buffer }[] {
  const byName = new Map<string, Uint8Array[]>();
  for (const file of upload.files)
    byName.set(file.name, [...(byName.get(file.name) ?? []), file.bytes]);
  return [...byName].map(([name, parts]) => {
    const block = encodeBytes(parts);
    return {
      name,
      block,
      tensor: {
        datatype: 'BYTES',
        shape: [parts.length],
        parameters: { binary_data_size: block.byteLength },
      },
    };
  });
}

function refuseRepeated(upload: Upload, reserved: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of upload.fields.map((f) => f.name)) {
    if (seen.has(name)) {
      throw new ConveyorError('ERR_VALIDATION', `multipart field "${name}" is given twice`, {
        issues: [{ path: `body.${name}`, message: 'repeats an earlier field' }],
      });
    }
    seen.add(name);
  }
  for (const file of upload.files) {
    if (seen.has(file.name) || reserved.includes(file.name)) {
      throw new ConveyorError(
        'ERR_VALIDATION',
        `multipart file "${file.name}" has the name of a field`,
        { issues: [{ path: `body.${file.name}`, message: 'is both a file and a field' }] },
      );
    }
  }
}

const binaryOf = (blocks: readonly Buffer[]) =>
  blocks.length === 0 ? undefined : blocks.length === 1 ? blocks[0] : Buffer.concat(blocks);

/**
 * An Open Inference Protocol request (`/v2/.../infer`): fields `id` (text), `parameters` and
 * `outputs` (JSON) are the request's own; any other field is an input tensor in JSON without its
 * name (`{"datatype":"FP32","shape":[1,4],"data":[...]}`); files fill BYTES inputs.
 */
export function inferBodyOf(upload: Upload): UploadBody {
  const own = ['id', 'parameters', 'outputs'];
  refuseRepeated(upload, own);
  const body: Record<string, unknown> = {};
  const inputs: unknown[] = [];
  for (const { name, value } of upload.fields) {
    if (name === 'id') body.id = value;
    else if (own.includes(name)) body[name] = jsonField(name, value);
    else {
      const tensor = jsonField(name, value);
      inputs.push(typeof tensor === 'object' && tensor !== null ? { name, ...tensor } : tensor);
    }
  }
  const files = fileInputs(upload);
  for (const { name, tensor } of files) inputs.push({ name, ...tensor });
  body.inputs = inputs;
  return { body, binary: binaryOf(files.map((f) => f.block)) };
}

/**
 * A job (`/v1/models/{m}/jobs`): field `parameters` (JSON) is the job's; any other field is an
 * input in JSON as `inputs` takes it (nested arrays, a bare value, a protocol tensor); files fill
 * BYTES inputs.
 */
export function jobBodyOf(upload: Upload): UploadBody {
  refuseRepeated(upload, ['parameters']);
  const body: Record<string, unknown> = {};
  const inputs: Record<string, unknown> = {};
  for (const { name, value } of upload.fields) {
    if (name === 'parameters') body.parameters = jsonField(name, value);
    else inputs[name] = jsonField(name, value);
  }
  const files = new Map(fileInputs(upload).map((file) => [file.name, file]));
  for (const { name, tensor } of files.values()) inputs[name] = { ...tensor, data: [] };
  body.inputs = inputs;
  // Blocks in the order the inputs are read (an object's integer-like keys come first).
  const order = Object.keys(inputs).flatMap((name) => files.get(name)?.block ?? []);
  return { body, binary: binaryOf(order) };
}
