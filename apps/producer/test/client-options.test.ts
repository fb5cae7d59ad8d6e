import { describe, expect, it } from 'vitest';
import { ClientOptionsSchema } from '@conveyor/sdk';
import { createLogger, loadConfig } from '@conveyor/shared';
import { clientOptionsFromConfig } from '../src/client-options.js';

describe('clientOptionsFromConfig', () => {
  it('passes every job and retention setting of the environment to the SDK client', () => {
    const config = loadConfig({
      REDIS_KEY_PREFIX: 'p1',
      PREDICT_TIMEOUT_MS: '1234',
      JOB_ATTEMPTS: '5',
      JOB_BACKOFF_MS: '50',
      KEEP_COMPLETED_JOBS: '7',
      KEEP_COMPLETED_AGE_S: '8',
      KEEP_FAILED_JOBS: '9',
      KEEP_FAILED_AGE_S: '10',
      EVENTS_MAX_LEN: '500',
      MAX_TENSOR_BYTES: '4096',
    });
    const options = ClientOptionsSchema.parse(
      clientOptionsFromConfig(config, createLogger({ level: 'silent', component: 'producer' })),
    );
    expect(options).toMatchObject({
      prefix: 'p1',
      timeoutMs: 1234,
      attempts: 5,
      backoffMs: 50,
      keepCompleted: { count: 7, ageSeconds: 8 },
      keepFailed: { count: 9, ageSeconds: 10 },
      eventsMaxLen: 500,
      maxTensorBytes: 4096,
    });
  });
});
