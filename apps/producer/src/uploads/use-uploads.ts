/**
 * Lets a route plugin's routes take `multipart/form-data`: @fastify/multipart reads the parts,
 * and a preValidation hook turns them into the JSON body the route's schema then checks, keeping
 * the file bytes aside for the handler (`binaryOf` of request-binary.ts).
 */
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import { keepBinary } from '../request-binary.js';
import { readUpload } from './multipart-upload.js';
import type { Upload } from './multipart-upload.js';
import type { UploadBody } from './upload-bodies.js';

/** Options of `useUploads`. */
export interface UploadOptions {
  /** Largest file part, in bytes: MAX_TENSOR_BYTES. */
  maxFileBytes: number;
  /** The body a route reads, from an upload. */
  bodyOf: (upload: Upload) => UploadBody;
}

/**
 * Registers multipart in `app`'s context (its routes only) with a hook that reads each multipart
 * request into its route's body; a request is never larger than the app's bodyLimit
 * (MAX_BODY_BYTES).
 */
export function useUploads(app: FastifyInstance, options: UploadOptions): void {
  void app.register(multipart);
  const limits = {
    maxFileBytes: options.maxFileBytes,
    maxTotalBytes: app.initialConfig.bodyLimit ?? options.maxFileBytes,
  };
  // A callback hook: the requests that are not multipart (most) pass without a promise.
  app.addHook('preValidation', (request, _reply, done) => {
    if (!request.isMultipart()) return done();
    readUpload(request, limits)
      .then((upload) => {
        const { body, binary } = options.bodyOf(upload);
        request.body = body;
        if (binary !== undefined) keepBinary(request, binary);
      })
      .then(() => done(), done);
  });
}
