import { describe, expect, it } from 'vitest';
import { createClient } from '@conveyor/sdk';
import { freePort } from '../../../scripts/lib/redis-server.js';

describe('a client whose Redis does not answer', () => {
  it('rejects createClient with ERR_QUEUE_UNAVAILABLE instead of hanging', async () => {
    const port = await freePort();
    await expect(createClient({ redisUrl: `redis://127.0.0.1:${port}` })).rejects.toMatchObject({
      code: 'ERR_QUEUE_UNAVAILABLE',
    });
  });

  it('rejects bad options with ERR_VALIDATION before connecting', async () => {
    await expect(createClient({ redisUrl: 'not a url' })).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
    });
    await expect(createClient({ prefix: 'has:colon' })).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
    });
  });
});
