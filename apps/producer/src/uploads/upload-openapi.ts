/**
 * The OpenAPI form of a multipart upload: fastify's route schema describes the JSON body only, so
 * the `multipart/form-data` content of each route that takes uploads is rewritten here.
 */

const MULTIPART = 'multipart/form-data';

/** The form every upload route reads (see upload-bodies.ts). */
export const UPLOAD_FORM_SCHEMA = Object.freeze({
  type: 'object',
  description:
    'File parts fill the input named by their field, one element (row) per part: the raw bytes of a bytes input, the UTF-8 text of a string input. Other fields are JSON: the request parameters, or an input.',
  additionalProperties: {
    anyOf: [
      { type: 'string', contentMediaType: 'application/octet-stream', description: 'a file' },
      { type: 'string', contentMediaType: 'application/json', description: 'a JSON field' },
    ],
  },
});

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

/** Replaces the schema of every `multipart/form-data` request body of `doc` with the upload form. */
export function withUploadForms<T>(doc: T): T {
  const paths = isRecord(doc) ? doc.paths : undefined;
  if (!isRecord(paths)) return doc;
  for (const item of Object.values(paths)) {
    if (!isRecord(item)) continue;
    for (const operation of Object.values(item)) {
      const content =
        isRecord(operation) && isRecord(operation.requestBody)
          ? operation.requestBody.content
          : undefined;
      if (isRecord(content) && isRecord(content[MULTIPART]))
        content[MULTIPART] = { schema: UPLOAD_FORM_SCHEMA };
    }
  }
  return doc;
}
