/**
 * Lets a route plugin's routes take `multipart/form-data`: @fastify/multipart reads the parts,
 * and a preValidation hook turns them into the JSON body the route's schema then checks, keeping
 * the file bytes aside for the handler (`uploadedBinary`).
 */
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { readUpload } from './multipart-upload.js';
import type { Upload } from './multipart-upload.js';
import type { UploadBody } from './upload-bodies.js';

const binaries = new WeakMap<FastifyRequest, Buffer>();

/** The bytes of an upload's file inputs, which its body's BYTES inputs point into. */
export function uploadedBinary(request: FastifyRequest): Buffer | undefined {
  return binaries.get(request);
}

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
        if (binary !== undefined) binaries.set(request, binary);
      })
      .then(() => done(), done);
  });
}
