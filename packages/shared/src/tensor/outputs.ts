import { ConveyorError } from '../errors.js';
import type { JobResult } from '../schemas/job.js';
import { decodeTensor, encodeTensor, tensorBytes, tensorFromBytes } from './codec.js';
import type { Tensor } from './tensor.js';

/**
 * The field of a job's BullMQ hash that holds its large outputs as raw bytes, stored once: the
 * return value and the `completed` event carry only where each output lies in it, and the bytes
 * go with the job when BullMQ trims or removes it.
 */
export const RESULT_FIELD = 'cv:outputs';

/** A result's outputs as the return value carries them, and the raw bytes stored beside it. */
export interface EncodedOutputs {
  outputs: JobResult['outputs'];
  /** The bytes for RESULT_FIELD; undefined when every output is inline. */
  stored: Buffer | undefined;
  /** Bytes of all outputs' data. */
  bytes: number;
}

/**
 * Encodes a job's outputs: inline in base64 when they total under `inlineMaxBytes` (a few
 * kilobytes: an extra read would cost more than the copy in the event), otherwise as one raw
 * buffer for RESULT_FIELD, each output a slice of it.
 */
export function encodeOutputs(
  outputs: Readonly<Record<string, Tensor>>,
  inlineMaxBytes: number,
): EncodedOutputs {
  const parts = Object.entries(outputs).map(([name, tensor]) => ({
    name,
    tensor,
    data: tensorBytes(tensor),
  }));
  const bytes = parts.reduce((n, part) => n + part.data.byteLength, 0);
  if (bytes < inlineMaxBytes) {
    const inline = Object.fromEntries(parts.map((p) => [p.name, encodeTensor(p.tensor)]));
    return { outputs: inline, stored: undefined, bytes };
  }
  const encoded: JobResult['outputs'] = {};
  let at = 0;
  for (const { name, tensor, data } of parts) {
    encoded[name] = { dtype: tensor.dtype, shape: [...tensor.shape], at, bytes: data.byteLength };
    at += data.byteLength;
  }
  return {
    outputs: encoded,
    stored: Buffer.concat(
      parts.map((p) => p.data),
      bytes,
    ),
    bytes,
  };
}

/** True when a result keeps some output in RESULT_FIELD, which must then be read with it. */
export function hasStoredOutputs(result: Pick<JobResult, 'outputs'>): boolean {
  return Object.values(result.outputs).some((wire) => 'at' in wire);
}

/**
 * Decodes a validated result's outputs, the stored ones from the bytes of RESULT_FIELD (checked
 * against each output's dtype and shape); ERR_PAYLOAD_INVALID when those bytes are missing.
 */
export function decodeOutputs(
  jobId: string,
  outputs: JobResult['outputs'],
  stored: Uint8Array | null | undefined,
): Record<string, Tensor> {
  const decoded: Record<string, Tensor> = {};
  for (const [name, wire] of Object.entries(outputs)) {
    const where = `output "${name}" of job ${jobId}`;
    if (!('at' in wire)) {
      decoded[name] = decodeTensor(wire, { maxBytes: Number.POSITIVE_INFINITY, where });
      continue;
    }
    if (!stored || wire.at + wire.bytes > stored.byteLength) {
      throw new ConveyorError(
        'ERR_PAYLOAD_INVALID',
        `${where} is stored with the job, but its bytes are gone (the job was trimmed)`,
        { details: { jobId, output: name } },
      );
    }
    const data = stored.subarray(wire.at, wire.at + wire.bytes);
    decoded[name] = tensorFromBytes(wire.dtype, wire.shape, data, {
      maxBytes: Number.POSITIVE_INFINITY,
      where,
    });
  }
  return decoded;
}
