import { describe, expect, it } from 'vitest';
import { ClientOptionsSchema, createClient } from '@conveyor/sdk';
import { EmbeddedClientOptionsSchema, createEmbeddedClient } from '@conveyor/sdk/embedded';

const MODELS = new URL('../../../models', import.meta.url).pathname;
const DAY_MS = 86_400_000;

describe('a client timeout', () => {
  it('is at most a day for both clients, as a single call and PREDICT_TIMEOUT_MS are', async () => {
    // Past 2^31 - 1 ms a Node timer fires after 1 ms: every wait used to fail at once.
    for (const timeoutMs of [DAY_MS + 1, 3_000_000_000]) {
      const embedded = createEmbeddedClient({ repository: MODELS, timeoutMs });
      await expect(embedded).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
      await expect(embedded).rejects.toThrow(/timeoutMs/);
      await expect(createClient({ timeoutMs })).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    }
    expect(ClientOptionsSchema.parse({ timeoutMs: DAY_MS }).timeoutMs).toBe(DAY_MS);
    const embedded = EmbeddedClientOptionsSchema.parse({ repository: MODELS, timeoutMs: DAY_MS });
    expect(embedded.timeoutMs).toBe(DAY_MS);
  });
});

describe('a client backoff', () => {
  it('is at most an hour for both clients, as JOB_BACKOFF_MS is', async () => {
    const HOUR_MS = 3_600_000;
    const embedded = createEmbeddedClient({ repository: MODELS, backoffMs: HOUR_MS + 1 });
    await expect(embedded).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    await expect(embedded).rejects.toThrow(/backoffMs/);
    await expect(createClient({ backoffMs: HOUR_MS + 1 })).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
    });
    expect(ClientOptionsSchema.parse({ backoffMs: HOUR_MS }).backoffMs).toBe(HOUR_MS);
  });
});
