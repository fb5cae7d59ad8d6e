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
