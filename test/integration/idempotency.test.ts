import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { createEmbeddedClient } from '@conveyor/sdk/embedded';
import { isConveyorError } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { startInProcessWorker } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const MODELS = fileURLToPath(new URL('../../models', import.meta.url));
const FLOWER = { features: [[5.1, 3.5, 1.4, 0.2]] };
const OTHER = { features: [[6.3, 2.9, 5.6, 1.8]] };

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (isConveyorError(e) ? e.code : String(e)),
  );

/** The idempotency-key rules both clients keep (IETF idempotency-key draft). */
describe.each(['queue', 'embedded'] as const)('idempotency keys on the %s client', (kind) => {
  const prefix = uniquePrefix();
  let client: ConveyorClient;
  let close: () => Promise<void> = () => Promise.resolve();

  beforeAll(async () => {
    if (kind === 'embedded') {
      client = await createEmbeddedClient({ repository: MODELS, models: ['iris'] });
      return;
    }
    const worker = await startInProcessWorker(redisUrl, prefix, { MODELS: 'iris' });
    client = await createClient({ redisUrl, prefix });
    close = async () => {
      await worker.close();
      await dropPrefix(redisUrl, prefix);
    };
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await close();
  });

  it('gives the same job for the same key and request', async () => {
    const first = await client.predict('iris', FLOWER, { idempotencyKey: 'same' });
    const again = await client.predict('iris', FLOWER, { idempotencyKey: 'same' });
    expect(again.jobId).toBe(first.jobId);
  });

  it('refuses the same key with other inputs, outputs or priority', async () => {
    await client.enqueue('iris', FLOWER, { idempotencyKey: 'taken' });
    expect(await codeOf(client.enqueue('iris', OTHER, { idempotencyKey: 'taken' }))).toBe(
      'ERR_IDEMPOTENCY_KEY_REUSED',
    );
    expect(
      await codeOf(client.enqueue('iris', FLOWER, { idempotencyKey: 'taken', priority: 3 })),
    ).toBe('ERR_IDEMPOTENCY_KEY_REUSED');
    expect(
      await codeOf(
        client.enqueue('iris', FLOWER, { idempotencyKey: 'taken', outputs: ['probabilities'] }),
      ),
    ).toBe('ERR_IDEMPOTENCY_KEY_REUSED');
    // How long the caller waits is not part of the request.
    expect(
      await codeOf(client.enqueue('iris', FLOWER, { idempotencyKey: 'taken', timeoutMs: 5 })),
    ).toBe('ok');
  });

  it('keeps each owner’s keys apart, and records the owner', async () => {
    const a = await client.enqueue('iris', FLOWER, { idempotencyKey: 'k', owner: 'alice' });
    const b = await client.enqueue('iris', OTHER, { idempotencyKey: 'k', owner: 'bob' });
    expect(b.id).not.toBe(a.id);
    expect(await client.jobIdFor('iris', { idempotencyKey: 'k', owner: 'alice' })).toBe(a.id);
  });
});
