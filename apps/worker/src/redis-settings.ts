import {
  JOB_HASH_VALUE_BYTES,
  hashValueBytes,
  type Logger,
  type RedisClient,
} from '@conveyor/shared';

/** The message of the log record `adviseJobHashEncoding` writes; tests look for it. */
export const JOB_HASH_ADVICE = 'redis stores each job as a hash table';

/**
 * Logs once, at info, when Redis keeps hash values shorter than a job's fields
 * (`hash-max-listpack-value` under JOB_HASH_VALUE_BYTES): every job then costs Redis more memory
 * and CPU than it needs (docs/operations.md). Nothing is logged when Redis refuses CONFIG (a
 * managed service, an ACL): the worker cannot tell, and runs the same either way.
 */
export async function adviseJobHashEncoding(redis: RedisClient, log: Logger): Promise<void> {
  let value: number;
  try {
    value = await hashValueBytes(redis);
  } catch {
    return;
  }
  if (!(value < JOB_HASH_VALUE_BYTES)) return;
  log.info(
    { hashMaxListpackValue: value, recommended: JOB_HASH_VALUE_BYTES },
    `${JOB_HASH_ADVICE}: set hash-max-listpack-value to ${JOB_HASH_VALUE_BYTES} for less memory and CPU per job (docs/operations.md)`,
  );
}
