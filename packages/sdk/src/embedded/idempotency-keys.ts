import { randomBytes } from 'node:crypto';
import { idempotencyDigest, newJobId, type ParsedPredictOptions } from '@conveyor/shared';
import { keyReused, requestFingerprint } from '../idempotency.js';
import type { ModelTarget, PreparedJob } from '../request.js';

/**
 * Idempotency keys as on the queue: scoped to the owner, the first request's version and
 * fingerprint kept (for at most `maxKeys` keys, the oldest dropped first), a different request
 * under a known key refused with ERR_IDEMPOTENCY_KEY_REUSED.
 */
export function createIdempotencyKeys(
  maxKeys: number,
  /** Prepares the request again on another version (the key's first request's). */
  prepareOn: (
    target: ModelTarget,
    inputs: unknown,
    opts: ParsedPredictOptions,
  ) => Promise<PreparedJob>,
) {
  const secret = randomBytes(32).toString('base64url');
  const keys = new Map<string, { version: string; fingerprint: string }>();
  const digestOf = (opts: ParsedPredictOptions, key: string) =>
    idempotencyDigest(secret, opts.owner ?? '', key);

  return {
    /** A prepared job with its key's id and version (the key's first request's), or as it is. */
    async keyed(prepared: PreparedJob, inputs: unknown, target: ModelTarget): Promise<PreparedJob> {
      const key = prepared.options.idempotencyKey;
      if (key === undefined) return prepared;
      const digest = digestOf(prepared.options, key);
      const fingerprint = requestFingerprint(target.name, inputs, prepared.options);
      const record = keys.get(digest) ?? { version: prepared.signature.version, fingerprint };
      if (record.fingerprint !== fingerprint) throw keyReused(key, target.name);
      if (!keys.has(digest)) {
        keys.set(digest, record);
        if (keys.size > maxKeys) keys.delete(keys.keys().next().value as string);
      }
      const job =
        record.version === prepared.signature.version
          ? prepared
          : await prepareOn(target, inputs, { ...prepared.options, version: record.version });
      return { ...job, jobId: newJobId(target.name, record.version, digest) };
    },
    /**
     * The job id a request with these options gets, its version being `version` unless its key
     * knows another.
     */
    jobIdFor(model: string, version: string, opts: ParsedPredictOptions): string {
      if (opts.idempotencyKey === undefined) return newJobId(model, version);
      const digest = digestOf(opts, opts.idempotencyKey);
      return newJobId(model, keys.get(digest)?.version ?? version, digest);
    },
  };
}
