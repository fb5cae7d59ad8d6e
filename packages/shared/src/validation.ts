import type { z } from 'zod';
import { ConveyorError } from './errors.js';

/** Flattens zod issues into `{ path, message }` pairs under a prefix. */
export function zodIssues(
  error: z.ZodError,
  prefix: (string | number)[] = [],
): { path: string; message: string }[] {
  return error.issues.map((issue) => ({
    path:
      [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))].join('.') ||
      '(root)',
    message: issue.message,
  }));
}

/**
 * Parses with a schema, or throws ERR_VALIDATION (or the code a custom issue carries) listing every
 * issue.
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  code:
    | 'ERR_VALIDATION'
    | 'ERR_PAYLOAD_INVALID'
    | 'ERR_MODEL_CONFIG_INVALID'
    | 'ERR_CONFIG_INVALID' = 'ERR_VALIDATION',
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = zodIssues(parsed.error);
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  throw new ConveyorError(code, `${what} is invalid: ${summary}`, { issues });
}
