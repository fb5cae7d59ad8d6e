import { ERROR_CATALOGUE, type ConveyorError } from '@conveyor/shared';

/**
 * The exit codes of `conveyor`, which scripts can rely on (docs/cli.md lists them). A code is
 * never reused for another meaning.
 */
export const EXIT = Object.freeze({
  /** Everything succeeded. */
  OK: 0,
  /** The command failed: a prediction or model check failed, a service died, or an unexpected error. */
  FAILURE: 1,
  /**
   * The command line or its input is wrong: unknown flag, bad value, unreadable file, malformed
   * JSON, unknown model.
   */
  USAGE: 2,
  /** `conveyor batch` finished but some rows failed; they are in the --failed file. */
  PARTIAL: 3,
  /** Redis did not answer. */
  REDIS_UNAVAILABLE: 4,
  /**
   * A prediction did not finish within --timeout; the job may still finish (its id is in the
   * message).
   */
  TIMEOUT: 5,
  /**
   * Stopped by SIGINT or SIGTERM before finishing (128 + SIGINT); `conveyor batch` can be re-run to
   * resume.
   */
  INTERRUPTED: 130,
});

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * The exit code for an error: Redis trouble is 4, a timeout 5, anything the caller got wrong
 * (every 4xx code of the catalogue, and an invalid configuration) 2, the rest 1.
 */
export function exitCodeOf(error: ConveyorError): ExitCode {
  if (error.code === 'ERR_QUEUE_UNAVAILABLE') return EXIT.REDIS_UNAVAILABLE;
  if (error.code === 'ERR_JOB_TIMEOUT') return EXIT.TIMEOUT;
  if (error.code === 'ERR_CONFIG_INVALID') return EXIT.USAGE;
  const status = ERROR_CATALOGUE[error.code].status;
  return status >= 400 && status < 500 ? EXIT.USAGE : EXIT.FAILURE;
}
