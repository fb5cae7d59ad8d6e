import compress from '@fastify/compress';
import type { FastifyInstance } from 'fastify';

/** Content encodings the /v2 routes read in request bodies and use for responses (Triton's). */
export const ENCODINGS = ['gzip', 'deflate'] as const;

/**
 * Compressed request bodies (`Content-Encoding: gzip` or `deflate`) and responses (when the
 * client's `Accept-Encoding` allows one; bodies under 1 KiB go as they are), for the routes of
 * the plugin that calls it, registered before them. A body is decompressed as it is read, so
 * MAX_BODY_BYTES (fastify's bodyLimit) bounds its decompressed size: a zip bomb answers 413 once
 * it has inflated past the limit. The binary extension's `Inference-Header-Content-Length` counts
 * the uncompressed JSON header. Another encoding answers 415, a body that does not inflate 400.
 */
export async function useCompression(app: FastifyInstance): Promise<void> {
  await app.register(compress, {
    encodings: [...ENCODINGS],
    requestEncodings: [...ENCODINGS],
  });
}
