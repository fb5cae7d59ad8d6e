import { z } from 'zod';
import { ERROR_CODES } from '../errors.js';

/**
 * The body of every HTTP error response. `error` repeats `message` because Open Inference
 * Protocol clients read `error`; `code` is one of the catalogue's stable codes.
 */
export const ErrorBodySchema = z
  .object({
    error: z.string(),
    code: z.enum(ERROR_CODES as [string, ...string[]]),
    message: z.string(),
    statusCode: z.number().int(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    /**
     * The details the catalogue lets the code show (ERR_RECORD_FIELD's `fields`), at most
     * MAX_FAILURE_DETAILS_BYTES of JSON, with `truncated: true` when cut to fit.
     */
    details: z.record(z.string(), z.json()).optional(),
    /** The job to fetch later, on ERR_JOB_TIMEOUT and on failures of a job that ran. */
    job_id: z.string().optional(),
  })
  .strict();

export type ErrorBody = z.infer<typeof ErrorBodySchema>;
