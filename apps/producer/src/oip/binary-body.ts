/**
 * Reads a request body of the binary tensor data extension into one buffer laid out for its
 * tensors: the JSON header is placed so that the binary part after it starts at a multiple of
 * BLOCK_ALIGN bytes, so typed arrays over the blocks are views. fastify's own buffer parser
 * concatenates the chunks at offset 0, and every float block after a header whose length is not a
 * multiple of 4 then needs a second copy to be aligned (`elementsFromBytes`).
 */
import { errorCodes } from 'fastify';

/** Alignment of the binary part, in bytes: enough for every dtype (8-byte FP64, INT64, UINT64). */
export const BLOCK_ALIGN = 8;

/** What the reader needs of a body stream (the raw request, or a decompressing stream). */
export interface BodyStream {
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  on(event: 'end' | 'error', listener: (error?: Error) => void): unknown;
  removeListener(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  removeListener(event: 'end' | 'error', listener: (error?: Error) => void): unknown;
  resume(): unknown;
  /** Bytes read before decompression (set by @fastify/compress), to bound a zip bomb. */
  receivedEncodedLength?: number;
}

export interface BinaryBodyOptions {
  /** Largest body, decompressed or not, in bytes (the route's bodyLimit). */
  limit: number;
  /** The request's `Content-Length`, when it sent one. */
  contentLength: string | undefined;
  /** `Inference-Header-Content-Length`: where the binary part starts. */
  headerLength: number;
}

type StatusError = Error & { statusCode?: number };

/**
 * Reads `payload` whole, with the limits and errors of fastify's own parser (413
 * FST_ERR_CTP_BODY_TOO_LARGE, 400 FST_ERR_CTP_INVALID_CONTENT_LENGTH, 400 on a stream error), and
 * calls `done` with a body whose byte `headerLength` sits at a multiple of BLOCK_ALIGN in its
 * ArrayBuffer. The bytes are copied once, out of the socket's chunks.
 */
export function readBinaryBody(
  payload: BodyStream,
  { limit, contentLength, headerLength }: BinaryBodyOptions,
  done: (error: Error | null, body?: Buffer) => void,
): void {
  const declared = contentLength === undefined ? Number.NaN : Number(contentLength);
  if (declared > limit) return done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
  const chunks: Buffer[] = [];
  let received = 0;
  const onData = (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    received += bytes.length;
    if (received > limit || (payload.receivedEncodedLength ?? 0) > limit) {
      stop();
      done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      return;
    }
    chunks.push(bytes);
  };
  const onEnd = (error?: StatusError) => {
    stop();
    if (error) {
      if (!(typeof error.statusCode === 'number' && error.statusCode >= 400))
        error.statusCode = 400;
      return done(error);
    }
    // As fastify: a decompressed body is checked against the bytes that came over the wire.
    const encoded = payload.receivedEncodedLength;
    const wire = encoded !== undefined && encoded > 0 ? encoded : received;
    if (!Number.isNaN(declared) && wire !== declared)
      return done(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
    return done(null, alignedConcat(chunks, received, headerLength));
  };
  // Only this reader's own listeners: the raw request has others (node's, fastify's).
  const stop = () => {
    payload.removeListener('data', onData);
    payload.removeListener('end', onEnd);
    payload.removeListener('error', onEnd);
  };
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onEnd);
  payload.resume();
}

/** The chunks copied into a fresh buffer whose byte `at` is BLOCK_ALIGN-aligned. */
function alignedConcat(chunks: readonly Buffer[], length: number, at: number): Buffer {
  const pad =
    Number.isSafeInteger(at) && at > 0 ? (BLOCK_ALIGN - (at % BLOCK_ALIGN)) % BLOCK_ALIGN : 0;
  // Not zero-filled (every byte is written below, the pad explicitly): its own ArrayBuffer, so
  // the offset is known, unlike Buffer.allocUnsafe's shared pool.
  const whole = Buffer.allocUnsafeSlow(pad + length).fill(0, 0, pad);
  const body = whole.subarray(pad);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}
