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

type Phase =
  | 'before'
  | 'publishing'
  | 'canary'
  | 'promoted'
  | 'rolled-back'
  | 'removing'
  /** Between a change and its notice reaching the client: checked only for errors. */
  | 'changing';

/** One job of the stream: the phase it was enqueued in, and the version that ran it (or its error). */
interface Record {
  phase: Phase;
  version?: string;
  error?: string;
}

/**
 * A continuous stream of predictions, `lanes` at a time, each recorded with the phase it was
 * enqueued in; `stop()` resolves when every one has finished.
 */
function startStream(client: ConveyorClient, lanes: number) {
  const records: Record[] = [];
  let phase: Phase = 'before';
  let running = true;
  const lane = async () => {
    while (running) {
      const record: Record = { phase };
      records.push(record);
      try {
        record.version = (await client.predict('iris', FLOWER)).version;
      } catch (error) {
        record.error = isConveyorError(error) ? error.code : String(error);
      }
    }
  };
  const all = Promise.all(Array.from({ length: lanes }, lane));
  return {
    records,
    set: (next: Phase) => (phase = next),
    /** Waits until `n` jobs of the current phase have finished. */
    async collect(n: number) {
      const current = phase;
      const done = () => records.filter((r) => r.phase === current && (r.version ?? r.error));
      while (done().length < n) await new Promise((r) => setTimeout(r, 20));
    },
    async stop() {
      running = false;
      await all;
    },
  };
}

describe('rolling out version 2 under a continuous stream of predictions', () => {
  const prefix = uniquePrefix();
  let repo: TempRepository;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let client: ConveyorClient;
  let admin: ModelAdmin;

  beforeAll(async () => {
    repo = await tempRepository({ iris: ['1'] });
    worker = await startInProcessWorker(redisUrl, prefix, {
      MODEL_REPOSITORY: repo.root,
      MODEL_RESCAN_MS: '200',
      MODEL_DRAIN_MS: '300',
    });
    client = await createClient({ redisUrl, prefix });
    admin = await createModelAdmin({ redisUrl, prefix });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await admin?.close();
    await worker?.close();
    await repo?.remove();
    await dropPrefix(redisUrl, prefix);
  });

  it('publishes, canaries at 10 %, promotes, rolls back and removes with no job lost or failed', async () => {
    // Production pinned first: a version published later takes no unpinned traffic until rolled out.
    await admin.setAlias('iris', 'production', { '1': 100 });
    const stream = startStream(client, 6);
    await stream.collect(50);

    stream.set('publishing');
    await repo.addVersion('iris', '2');
    await expect
      .poll(
        async () => (await admin.status('iris')).versions.map((v) => `${v.version}:${v.state}`),
        {
          timeout: 20_000,
        },
      )
      .toEqual(['1:ready', '2:ready']);
    await stream.collect(50);

    // Clients drop their cached aliases on the change notice, a few ms after the change.
    // Until then, the jobs of the stream are only checked for errors. The client has the change
    // once `times` new jobs in a row go to `shows` (20 in a row cannot come from a 10 % share).
    let probe = 0;
    const chooses = async (version: string, times: number) => {
      for (let i = 0; i < times; i++) {
        const id = await client.jobIdFor('iris', { idempotencyKey: `probe-${probe++}` });
        if (!id.startsWith(`iris.${version}.`)) return false;
      }
      return true;
    };
    const change = async (apply: () => Promise<unknown>, next: Phase, shows: string, times = 1) => {
      stream.set('changing');
      await apply();
      await expect.poll(() => chooses(shows, times), { interval: 5, timeout: 20_000 }).toBe(true);
      stream.set(next);
    };
    await change(() => admin.rollout('iris', '2', 10, 'test'), 'canary', '2');
    await stream.collect(1000);

    await change(() => admin.promote('iris', undefined, 'test'), 'promoted', '2', 20);
    await stream.collect(100);

    await change(() => admin.rollback('iris', 'test'), 'rolled-back', '1');
    await stream.collect(200);

    stream.set('removing');
    await repo.removeVersion('iris', '2');
    await expect
      .poll(async () => (await admin.status('iris')).versions.map((v) => v.version), {
        timeout: 10_000,
      })
      .toEqual(['1']);
    await stream.stop();

    const of = (phase: Phase) => stream.records.filter((r) => r.phase === phase);
    expect(stream.records.filter((r) => r.error !== undefined)).toEqual([]);
    expect(new Set([...of('before'), ...of('publishing')].map((r) => r.version))).toEqual(
      new Set(['1']),
    );
    const canary = of('canary');
    const twos = canary.filter((r) => r.version === '2').length;
    // Binomial(n, 0.1): within 4.5 standard deviations of n/10 (a false alarm about 1 in 150 000).
    const sd = Math.sqrt(canary.length * 0.1 * 0.9);
    expect(Math.abs(twos - canary.length * 0.1)).toBeLessThan(4.5 * sd);
    expect(new Set(of('promoted').map((r) => r.version))).toEqual(new Set(['2']));
    expect(new Set(of('rolled-back').map((r) => r.version))).toEqual(new Set(['1']));
    expect(new Set(of('removing').map((r) => r.version))).toEqual(new Set(['1']));

    const history = await admin.history('iris');
    expect(history.map((h) => h.action)).toEqual(['rollback', 'promote', 'rollout', 'set']);
    expect(history[0]).toMatchObject({ from: { '2': 100 }, to: { '1': 100 }, by: 'test' });
  }, 120_000);
});

describe('removing a version that still has jobs queued', () => {
  const prefix = uniquePrefix();
  let repo: TempRepository;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let client: ConveyorClient;

  beforeAll(async () => {
    repo = await tempRepository({ iris: ['1', '2'] });
    worker = await startInProcessWorker(redisUrl, prefix, {
      MODEL_REPOSITORY: repo.root,
      MODEL_RESCAN_MS: '0',
      MODEL_DRAIN_MS: '200',
      WORKER_CONCURRENCY: '2',
    });
    client = await createClient({ redisUrl, prefix });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await worker?.close();
    await repo?.remove();
    await dropPrefix(redisUrl, prefix);
  });

  it('runs what was queued for it, refuses new jobs for it at once, and unannounces it', async () => {
    const queued = await client.enqueueMany(
      'iris',
      Array.from({ length: 300 }, () => ({ inputs: FLOWER })),
      { version: '2' },
    );
    await repo.removeVersion('iris', '2');
    const rescan = worker.rescan('test');
    await expect
      .poll(async () => (await client.models()).find((m) => m.version === '2')?.state)
      .toBe('draining');
    const refused = await client.predict('iris', FLOWER, { version: '2' }).catch((e: unknown) => e);
    expect(isConveyorError(refused) && refused.code).toBe('ERR_MODEL_VERSION_NOT_FOUND');
    const results = await Promise.all(queued.map((h) => h.result()));
    expect(new Set(results.map((r) => r.version))).toEqual(new Set(['2']));
    await rescan;
    expect((await client.models()).map((m) => m.version)).toEqual(['1']);
    expect(worker.records.some((r) => r.msg === 'version unloaded' && r.version === '2')).toBe(
      true,
    );
  });
});
