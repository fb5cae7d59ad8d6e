import { z } from 'zod';

/**
 * Model names are lower-case slugs and versions positive integers, so that no name can reach
 * outside the model repository on disk or collide with a Redis key separator.
 */
export const ModelNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, {
  message:
    'model names are 1-64 characters of a-z, 0-9, "-" and "_", starting with a letter or digit',
});

export const ModelVersionSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,8}$/, { message: 'versions are positive integers such as "1" or "12"' });

/**
 * A valid model name made from any text, such as a file's base name: lower case, each run of
 * other characters a "-", at most 64 characters; "model" when nothing is left.
 */
export function toModelName(text: string): string {
  const slug = text
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+/, '')
    .slice(0, 64)
    .replace(/[-_]+$/, '');
  return slug === '' ? 'model' : slug;
}

/** Orders version strings numerically ("2" before "10"), oldest first. */
export function compareVersions(a: string, b: string): number {
  return Number(a) - Number(b);
}

export type ModelName = z.infer<typeof ModelNameSchema>;
export type ModelVersion = z.infer<typeof ModelVersionSchema>;

/** Tensor names as ONNX exporters write them: printable, no control characters. */
export const TensorNameSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^\p{Cc}]+$/u, { message: 'tensor names have no control characters' });
