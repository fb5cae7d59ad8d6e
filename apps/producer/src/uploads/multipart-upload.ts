/**
 * Reads a `multipart/form-data` request with @fastify/multipart into its files and text fields,
 * under limits checked while the parts stream in: no part is buffered past `maxFileBytes`, and
 * the request's parts past `maxTotalBytes`.
 */
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ConveyorError, TensorNameSchema, zodIssues } from '@conveyor/shared';

/** At most this many file parts in one request. */
export const MAX_UPLOAD_FILES = 64;

/** At most this many text fields in one request. */
export const MAX_UPLOAD_FIELDS = 64;

/** How much one request may upload. */
export interface UploadLimits {
  /** Largest file part, in bytes (MAX_TENSOR_BYTES). */
  maxFileBytes: number;
  /** Largest request: every file and field together, in bytes (MAX_BODY_BYTES). */
  maxTotalBytes: number;
}

/** The parts of an upload, in the order they came. */
export const UploadSchema = z
  .object({
    files: z
      .array(z.object({ name: TensorNameSchema, bytes: z.instanceof(Uint8Array) }).strict())
      .max(MAX_UPLOAD_FILES),
    fields: z
      .array(z.object({ name: z.string().min(1).max(256), value: z.string() }).strict())
      .max(MAX_UPLOAD_FIELDS),
  })
  .strict();

export type Upload = z.infer<typeof UploadSchema>;

const tooLarge = (message: string, details: Record<string, unknown>) =>
  new ConveyorError('ERR_PAYLOAD_TOO_LARGE', message, { details });

/** A refusal of @fastify/multipart or busboy as one of ours. */
function uploadError(error: unknown, limits: UploadLimits): unknown {
  if (error instanceof ConveyorError) return error;
  const code = (error as { code?: unknown }).code;
  switch (code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return tooLarge(`a file part is over the limit of ${limits.maxFileBytes} bytes`, {
        maxBytes: limits.maxFileBytes,
      });
    case 'FST_FILES_LIMIT':
      return tooLarge(`more than ${MAX_UPLOAD_FILES} file parts`, { maxFiles: MAX_UPLOAD_FILES });
    case 'FST_FIELDS_LIMIT':
    case 'FST_PARTS_LIMIT':
      return tooLarge(`more than ${MAX_UPLOAD_FIELDS} fields`, { maxFields: MAX_UPLOAD_FIELDS });
    default: {
      const reason = error instanceof Error ? error.message : String(error);
      return new ConveyorError('ERR_VALIDATION', `multipart body is malformed: ${reason}`, {
        cause: error,
        issues: [{ path: 'body', message: 'is not valid multipart/form-data' }],
      });
    }
  }
}

/**
 * The files and fields of a multipart request, checked against `UploadSchema`. A file over
 * `maxFileBytes`, a request over `maxTotalBytes`, too many files or fields, or a text field cut
 * short is ERR_PAYLOAD_TOO_LARGE, refused as soon as it is seen; a malformed body ERR_VALIDATION.
 */
export async function readUpload(request: FastifyRequest, limits: UploadLimits): Promise<Upload> {
  const upload: Upload = { files: [], fields: [] };
  let total = 0;
  const count = (bytes: number) => {
    total += bytes;
    if (total > limits.maxTotalBytes)
      throw tooLarge(`multipart body is over the limit of ${limits.maxTotalBytes} bytes`, {
        maxBytes: limits.maxTotalBytes,
      });
  };
  const parts = request.parts({
    limits: {
      fileSize: limits.maxFileBytes,
      files: MAX_UPLOAD_FILES,
      fields: MAX_UPLOAD_FIELDS,
      parts: MAX_UPLOAD_FILES + MAX_UPLOAD_FIELDS,
      fieldSize: limits.maxTotalBytes,
      fieldNameSize: 256,
    },
  });
  try {
    for await (const part of parts) {
      if (part.type === 'field') {
        if (part.valueTruncated)
          throw tooLarge(`field "${part.fieldname}" is over the limit`, { field: part.fieldname });
        const value = typeof part.value === 'string' ? part.value : JSON.stringify(part.value);
        count(Buffer.byteLength(value));
        upload.fields.push({ name: part.fieldname, value });
        continue;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of part.file as AsyncIterable<Buffer>) {
        // busboy stops a file at fileSize and marks it truncated: refused, not cut short.
        if (part.file.truncated) throw uploadError({ code: 'FST_REQ_FILE_TOO_LARGE' }, limits);
        count(chunk.length);
        chunks.push(chunk);
      }
      if (part.file.truncated) throw uploadError({ code: 'FST_REQ_FILE_TOO_LARGE' }, limits);
      const bytes = Buffer.concat(chunks);
      upload.files.push({
        name: part.fieldname,
        bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      });
    }
  } catch (error) {
    throw uploadError(error, limits);
  }
  const parsed = UploadSchema.safeParse(upload);
  if (!parsed.success) {
    throw new ConveyorError('ERR_VALIDATION', 'multipart body: a part has an invalid name', {
      issues: zodIssues(parsed.error, ['body']),
    });
  }
  return parsed.data;
}
