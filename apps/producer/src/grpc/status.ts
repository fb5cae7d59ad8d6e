/**
 * Errors as gRPC statuses: a ConveyorError's code maps, through the HTTP status REST answers it
 * with, to a gRPC status code; the status `details` is REST's JSON error body and the trailers
 * carry `conveyor-error-code` (and `conveyor-job-id`, `retry-after` when REST sends them).
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ConveyorError, exposedDetails, isConveyorError, zodIssues } from '@conveyor/shared';
import { ZodError } from 'zod';
import { errorBody } from '../plugins/error-handler.js';
import type { ErrorBody } from '../oip/schemas.js';

/** The trailer that names the error's catalogue code. */
export const ERROR_CODE_KEY = 'conveyor-error-code';
/** The header (or trailer, on ERR_JOB_TIMEOUT) that names the job a call enqueued. */
export const JOB_ID_KEY = 'conveyor-job-id';

/** The gRPC status of each HTTP status of the error catalogue (INTERNAL for the rest). */
const BY_HTTP_STATUS: ReadonlyMap<number, status> = new Map([
  [400, status.INVALID_ARGUMENT],
  [401, status.UNAUTHENTICATED],
  [403, status.PERMISSION_DENIED],
  [404, status.NOT_FOUND],
  [409, status.ALREADY_EXISTS],
  [413, status.RESOURCE_EXHAUSTED],
  [415, status.INVALID_ARGUMENT],
  [422, status.INVALID_ARGUMENT],
  [429, status.RESOURCE_EXHAUSTED],
  [503, status.UNAVAILABLE],
  [504, status.DEADLINE_EXCEEDED],
  [507, status.RESOURCE_EXHAUSTED],
]);

export const grpcStatusOf = (httpStatus: number): status =>
  BY_HTTP_STATUS.get(httpStatus) ?? status.INTERNAL;

/** A refusal of the request itself, before it reaches the core: ERR_VALIDATION with its issues. */
export function invalidRequest(error: ZodError, what = 'request'): ConveyorError {
  const issues = zodIssues(error);
  return new ConveyorError(
    'ERR_VALIDATION',
    `${what} is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { issues },
  );
}

/** REST's error body for anything a handler throws; ERR_INTERNAL hides its message. */
export function errorBodyOf(error: unknown, callId: string): ErrorBody {
  if (error instanceof ZodError) return errorBodyOf(invalidRequest(error), callId);
  if (!isConveyorError(error) || error.code === 'ERR_INTERNAL') {
    return errorBody({
      code: 'ERR_INTERNAL',
      message: `internal error; the producer log has the details under callId ${callId}`,
    });
  }
  const jobId = error.details.jobId;
  const details = exposedDetails(error);
  return errorBody({
    code: error.code,
    message: error.message,
    ...(error.issues.length > 0 && { issues: error.issues }),
    ...(Object.keys(details).length > 0 && { details }),
    ...(typeof jobId === 'string' && { jobId }),
  });
}

/** The status a call ends with for an error body. */
export function serviceError(body: ErrorBody, error: unknown): Partial<ServiceError> {
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_KEY, body.code);
  if (body.job_id !== undefined) metadata.set(JOB_ID_KEY, body.job_id);
  const retryAfterS = isConveyorError(error) ? error.details.retryAfterS : undefined;
  if (typeof retryAfterS === 'number') metadata.set('retry-after', String(Math.ceil(retryAfterS)));
  return {
    code: grpcStatusOf(body.statusCode),
    // grpc-js sends `details` as the status message (grpc-message).
    details: JSON.stringify(body),
    metadata,
  };
}
