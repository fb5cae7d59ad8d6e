import { ConveyorError } from '../errors.js';
import type { JobResult } from '../schemas/job.js';
import { decodeTensor, tensorBytes, tensorFromBytes } from './codec.js';
import type { Tensor } from './tensor.js';

/**
 * The field of a job's BullMQ hash that holds its large outputs as raw bytes, stored once: the
 * return value and the `completed` event carry only where each output lies in it, and the bytes
 * go with the job when BullMQ trims or removes it.
 */
export const RESULT_FIELD = 'cv:outputs';

/**
 * Stored outputs are split into fields of this many bytes (`cv:outputs`, `cv:outputs:1`, ...):
 * 64 bytes under 256 KiB, so that each field, with its string header, fills one of the
 * allocator's size classes exactly. A single value of 1.06 MB would take the 1.25 MiB class:
 * 24 % more memory than its bytes.
 */
export const RESULT_CHUNK_BYTES = 256 * 1024 - 64;

/** The hash fields that hold `bytes` of stored outputs, in order. */
export function resultFields(bytes: number): string[] {
  const count = Math.max(1, Math.ceil(bytes / RESULT_CHUNK_BYTES));
  return Array.from({ length: count }, (_, i) => (i === 0 ? RESULT_FIELD : `${RESULT_FIELD}:${i}`));
}

/** Stored outputs as the field and value pairs of their hash fields (values are views). */
export function resultChunks(stored: Buffer): [field: string, chunk: Buffer][] {
  return resultFields(stored.byteLength).map((field, i) => [
    field,
    stored.subarray(i * RESULT_CHUNK_BYTES, (i + 1) * RESULT_CHUNK_BYTES),
  ]);
}

/** The bytes a result keeps in its hash fields: the end of its last stored output (0: none). */
export function storedBytesOf(result: { outputs: Record<string, object> }): number {
  let end = 0;
  for (const wire of Object.values(result.outputs)) {
    if (
      'at' in wire &&
      'bytes' in wire &&
      typeof wire.at === 'number' &&
      typeof wire.bytes === 'number'
    )
      end = Math.max(end, wire.at + wire.bytes);
  }
  return end;
}

/** Stored outputs read back from their fields; null when any of them is gone. */
export function joinChunks(chunks: readonly (Buffer | null)[]): Buffer | null {
  if (chunks.some((chunk) => chunk === null)) return null;
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks as Buffer[]);
}

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
    // The bytes read above, encoded: encodeTensor would read them from the tensor again.
    const inline: JobResult['outputs'] = {};
    for (const { name, tensor, data } of parts)
      inline[name] = {
        dtype: tensor.dtype,
        shape: [...tensor.shape],
        data: data.toString('base64'),
      };
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
  for (const name in outputs) {
    const wire = outputs[name] as JobResult['outputs'][string];
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
