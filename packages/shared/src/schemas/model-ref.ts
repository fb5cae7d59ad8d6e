import { z } from 'zod';
import { ModelNameSchema, ModelVersionSchema } from './names.js';

/** A plain file name of the version folder. */
export const FileSchema = z
  .string()
  .max(255)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { message: 'a plain file name of the version folder' });

/**
 * A model a pipeline runs: another model of the repository (`model`, and a `version`, default
 * the newest served), or an .onnx file of the pipeline's own folder (`file`).
 */
export const ModelRefSchema = z.union([
  z.object({ model: ModelNameSchema, version: ModelVersionSchema.optional() }).strict(),
  z
    .object({
      file: FileSchema.refine((f) => f.endsWith('.onnx'), { message: 'an .onnx file' }),
    })
    .strict(),
]);

export type ModelRef = z.infer<typeof ModelRefSchema>;
