import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createClient,
  createModelAdmin,
  type ConveyorClient,
  type ModelAdmin,
} from '@conveyor/sdk';
import { isConveyorError } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { tempRepository, type TempRepository } from '../support/repository.js';
import { startInProcessWorker } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const FLOWER = { features: [[5.1, 3.5, 1.4, 0.2]] };

/** How a prediction ended: the version that ran it, or the error code. */
const outcome = (p: Promise<{ version: string }>) =>
  p.then(
    (r) => r.version,
    (e: unknown) => (isConveyorError(e) ? e.code : String(e)),
  );

describe('a mixed fleet: one worker serves iris 1, another iris 1 and 2', () => {
  const prefix = uniquePrefix();
  let onlyOne: TempRepository;
  let both: TempRepository;
  let workers: Awaited<ReturnType<typeof startInProcessWorker>>[] = [];
  let client: ConveyorClient;
  let admin: ModelAdmin;

  beforeAll(async () => {
    onlyOne = await tempRepository({ iris: ['1'] });
    both = await tempRepository({ iris: ['1', '2'] });
    workers = [
      await startInProcessWorker(redisUrl, prefix, { MODEL_REPOSITORY: onlyOne.root }),
      await startInProcessWorker(redisUrl, prefix, { MODEL_REPOSITORY: both.root }),
    ];
    client = await createClient({ redisUrl, prefix });
    admin = await createModelAdmin({ redisUrl, prefix });
  }, 60_000);

  // A change reaches the client with its notice, a moment after the change itself: wait until
  // new unpinned jobs go to `version`.
  let probe = 0;
  const follows = (version: string) =>
    expect
      .poll(() => client.jobIdFor('iris', { idempotencyKey: `probe-${probe++}` }))
      .toMatch(new RegExp(`^iris\\.${version}\\.`));

  afterAll(async () => {
    await client?.close();
    await admin?.close();
    await Promise.all(workers.map((w) => w.close()));
    await Promise.all([onlyOne?.remove(), both?.remove()]);
    await dropPrefix(redisUrl, prefix);
  });

  it('runs every pinned job on its version and every unpinned one on the newest, with no failure', async () => {
    const asked = Array.from({ length: 120 }, (_, i) => [undefined, '1', '2'][i % 3]);
    const got = await Promise.all(
      asked.map((version) =>
        outcome(client.predict('iris', FLOWER, version === undefined ? {} : { version })),
      ),
    );
    // Until production is set, unpinned jobs follow the newest version.
    expect(got).toEqual(asked.map((v) => v ?? '2'));
  });

  it('records the version in the job id, the result and the job handle', async () => {
    const handle = await client.enqueue('iris', FLOWER, { version: '1' });
    expect(handle.id).toMatch(/^iris\.1\./);
    expect((await handle.result()).version).toBe('1');
    expect((await client.job(handle.id).result()).version).toBe('1');
  });

  it('sends unpinned jobs where production points once it is set, and named aliases by weight', async () => {
    await admin.setAlias('iris', 'production', { '1': 100 });
    await admin.setAlias('iris', 'half', { '1': 1, '2': 1 });
    await follows('1');
    const unpinned = await Promise.all(
      Array.from({ length: 30 }, () => outcome(client.predict('iris', FLOWER))),
    );
    expect(new Set(unpinned)).toEqual(new Set(['1']));
    const handles = await client.enqueueMany(
      'iris',
      Array.from({ length: 400 }, () => ({ inputs: FLOWER })),
      { version: 'half' },
    );
    const versions = await Promise.all(handles.map((h) => h.result().then((r) => r.version)));
    const twos = versions.filter((v) => v === '2').length;
    // Binomial(400, 0.5): standard deviation 10; 5 deviations either side.
    expect(twos).toBeGreaterThan(150);
    expect(twos).toBeLessThan(250);
    handles.forEach((h, i) => expect(h.id.startsWith(`iris.${versions[i]}.`)).toBe(true));
  });

  it('refuses an alias the model does not have, and a version no worker serves', async () => {
    const alias = await client
      .predict('iris', FLOWER, { version: 'nope' })
      .catch((e: unknown) => e);
    expect(isConveyorError(alias) && alias.code).toBe('ERR_ALIAS_NOT_FOUND');
    const version = await client.predict('iris', FLOWER, { version: '7' }).catch((e: unknown) => e);
    expect(isConveyorError(version) && version.code).toBe('ERR_MODEL_VERSION_NOT_FOUND');
  });

  it('keeps a repeated idempotency key on the version its first job ran on', async () => {
    await admin.setAlias('iris', 'production', { '2': 100 });
    await follows('2');
    const first = await client.predict('iris', FLOWER, { idempotencyKey: 'same-key' });
    await admin.setAlias('iris', 'production', { '1': 100 });
    await follows('1');
    const again = await client.predict('iris', FLOWER, { idempotencyKey: 'same-key' });
    expect(first.version).toBe('2');
    expect(again.jobId).toBe(first.jobId);
    expect(again.version).toBe('2');
  });
});
