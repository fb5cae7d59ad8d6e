import { describe, expect, it } from 'vitest';
import { DEFAULTS, loadConfig } from '@conveyor/shared';
import { ClientOptionsSchema, EmbeddedClientOptionsSchema } from '../src/options.js';

describe('DEFAULTS', () => {
  const env = loadConfig({});
  const client = ClientOptionsSchema.parse({});
  const embedded = EmbeddedClientOptionsSchema.parse({ repository: 'models' });

  it('is frozen, nested objects included', () => {
    expect(Object.isFrozen(DEFAULTS)).toBe(true);
    expect(Object.isFrozen(DEFAULTS.keepCompleted)).toBe(true);
    expect(Object.isFrozen(DEFAULTS.keepFailed)).toBe(true);
  });

  it('gives the environment and the SDK client the same default for each shared setting', () => {
    const pairs: [string, unknown, unknown][] = [
      ['REDIS_URL / redisUrl', env.REDIS_URL, client.redisUrl],
      ['REDIS_KEY_PREFIX / prefix', env.REDIS_KEY_PREFIX, client.prefix],
      ['PREDICT_TIMEOUT_MS / timeoutMs', env.PREDICT_TIMEOUT_MS, client.timeoutMs],
      ['JOB_ATTEMPTS / attempts', env.JOB_ATTEMPTS, client.attempts],
      ['JOB_BACKOFF_MS / backoffMs', env.JOB_BACKOFF_MS, client.backoffMs],
      ['KEEP_COMPLETED_JOBS', env.KEEP_COMPLETED_JOBS, client.keepCompleted.count],
      ['KEEP_COMPLETED_AGE_S', env.KEEP_COMPLETED_AGE_S, client.keepCompleted.ageSeconds],
      ['KEEP_FAILED_JOBS', env.KEEP_FAILED_JOBS, client.keepFailed.count],
      ['KEEP_FAILED_AGE_S', env.KEEP_FAILED_AGE_S, client.keepFailed.ageSeconds],
      ['EVENTS_MAX_LEN / eventsMaxLen', env.EVENTS_MAX_LEN, client.eventsMaxLen],
      ['MAX_TENSOR_BYTES / maxTensorBytes', env.MAX_TENSOR_BYTES, client.maxTensorBytes],
      ['MODEL_EXPIRY_MS / modelExpiryMs', env.MODEL_EXPIRY_MS, client.modelExpiryMs],
    ];
    expect(pairs.filter(([, a, b]) => a !== b)).toEqual([]);
  });

  it('is where both schemas read them from', () => {
    // Unset, a worker derives its concurrency per version, from DEFAULTS.workerConcurrency up.
    expect(env.WORKER_CONCURRENCY).toBeUndefined();
    expect(embedded.concurrency).toBe(DEFAULTS.workerConcurrency);
    expect(env.KEEP_COMPLETED_JOBS).toBe(DEFAULTS.keepCompleted.count);
    expect(client.keepCompleted).toEqual(DEFAULTS.keepCompleted);
    expect(client.keepFailed).toEqual(DEFAULTS.keepFailed);
    expect(embedded.keepCompleted).toEqual(DEFAULTS.keepCompleted);
    expect(client).toMatchObject({
      catalogueTtlMs: DEFAULTS.catalogueTtlMs,
      blobThresholdBytes: DEFAULTS.blobThresholdBytes,
      blobTtlSeconds: DEFAULTS.blobTtlSeconds,
    });
  });

  it('keeps the documented values', () => {
    expect(DEFAULTS).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      prefix: 'conveyor',
      timeoutMs: 30_000,
      attempts: 3,
      backoffMs: 1000,
      keepCompleted: { count: 10_000, ageSeconds: 3600 },
      keepFailed: { count: 10_000, ageSeconds: 86_400 },
      eventsMaxLen: 10_000,
      maxTensorBytes: 64 * 1024 * 1024,
      modelExpiryMs: 600_000,
      catalogueTtlMs: 5000,
      blobThresholdBytes: 16 * 1024,
      blobTtlSeconds: 7 * 24 * 3600,
    });
  });

  it('hands out copies: a parsed default cannot change DEFAULTS', () => {
    const parsed = ClientOptionsSchema.parse({});
    parsed.keepCompleted.count = 1;
    expect(DEFAULTS.keepCompleted.count).toBe(10_000);
    expect(ClientOptionsSchema.parse({}).keepCompleted.count).toBe(10_000);
  });
});
