import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createClient,
  createModelAdmin,
  type ComparisonReport,
  type ModelAdmin,
  type QueueClient,
} from '@conveyor/sdk';
import { runCli } from '../../apps/cli/test/support.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import {
  FLOWERS,
  IRIS_BIAS_PERTURBED,
  IRIS_BIAS_SHIPPED,
  addPerturbedIris,
  expectedComparison,
  irisScores,
} from '../support/perturbed-iris.js';
import { tempRepository, type TempRepository } from '../support/repository.js';
import { startInProcessWorker } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const served = irisScores(FLOWERS, IRIS_BIAS_SHIPPED);
const perturbed = expectedComparison(served, irisScores(FLOWERS, IRIS_BIAS_PERTURBED));

/** A pair's report once `count` answers are compared (the comparison runs after the answers). */
async function reportOf(
  client: QueueClient,
  serving: string,
  candidate: string,
  count: number,
  source: 'shadow' | 'replay' = 'shadow',
): Promise<ComparisonReport> {
  let report: ComparisonReport | undefined;
  await expect
    .poll(
      async () => {
        [report] = await client.compare('iris', { serving, candidate, source });
        return report?.compared ?? 0;
      },
      { timeout: 20_000 },
    )
    .toBe(count);
  return report as ComparisonReport;
}

/** Predicts every flower, one job each; checks each answer is the serving version's own. */
async function predictAll(client: QueueClient): Promise<void> {
  const answers = await Promise.all(
    FLOWERS.map((row) => client.predict('iris', { features: [row] })),
  );
  answers.forEach((answer, i) => {
    expect(answer.version).toBe('1');
    const probabilities = Array.from(answer.outputs.probabilities?.data as Float32Array);
    probabilities.forEach((p, j) => expect(p).toBeCloseTo(served[i]?.[j] ?? Number.NaN, 5));
  });
}

describe('shadow traffic: iris 1 serves, 2 (identical) and 3 (perturbed bias) shadow it', () => {
  const prefix = uniquePrefix();
  let repository: TempRepository;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let client: QueueClient;
  let admin: ModelAdmin;

  beforeAll(async () => {
    repository = await tempRepository({ iris: ['1', '2'] });
    await addPerturbedIris(repository, '3', IRIS_BIAS_PERTURBED);
    worker = await startInProcessWorker(redisUrl, prefix, { MODEL_REPOSITORY: repository.root });
    client = await createClient({ redisUrl, prefix });
    admin = await createModelAdmin({ redisUrl, prefix });
    await admin.setAlias('iris', 'production', { '1': 100 });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await admin?.close();
    await worker?.close();
    await repository?.remove();
    await dropPrefix(redisUrl, prefix);
  });

  it('the perturbed version disagrees on some flowers and not on all (a meaningful test)', () => {
    expect(perturbed.agreement).toBeGreaterThan(0.5);
    expect(perturbed.agreement).toBeLessThan(1);
  });

  it('agrees fully with an identical shadow, while callers get version 1 only', async () => {
    const change = await admin.setShadow('iris', 'production', '2', 'test');
    expect(change).toMatchObject({ action: 'shadow', alias: 'production', shadowTo: '2' });
    await expect
      .poll(async () => (await admin.status('iris')).shadows)
      .toEqual({ production: '2' });
    await predictAll(client);
    const report = await reportOf(client, '1', '2', FLOWERS.length);
    expect(report.dropped).toBe(0);
    expect(report.outputs).toEqual([
      expect.objectContaining({ name: 'probabilities', agreement: 1, units: 40, maxAbs: 0 }),
    ]);
    expect(report.latency.serving.count).toBe(40);
    expect(report.latency.candidate.count).toBe(40);
    expect(report.latency.candidate.p50Ms).not.toBeNull();
  });

  it('measures the disagreement and differences of a perturbed shadow', async () => {
    await admin.setShadow('iris', 'production', '3', 'test');
    await expect
      .poll(async () => (await admin.status('iris')).shadows)
      .toEqual({ production: '3' });
    await predictAll(client);
    const report = await reportOf(client, '1', '3', FLOWERS.length);
    const [output] = report.outputs;
    expect(output?.agreement).toBeCloseTo(perturbed.agreement, 10);
    expect(output?.maxAbs).toBeCloseTo(perturbed.maxAbs, 4);
    expect(output?.maxRel).toBeCloseTo(perturbed.maxRel, 4);
  });

  it('shows both pairs in the model status and the shadow changes in the history', async () => {
    const status = await admin.status('iris');
    const pairs = status.comparisons.map((c) => `${c.source}:${c.serving}:${c.candidate}`);
    expect(pairs).toEqual(['shadow:1:2', 'shadow:1:3']);
    const history = await admin.history('iris', 2);
    expect(history.map((c) => [c.action, c.shadowFrom, c.shadowTo])).toEqual([
      ['shadow', '2', '3'],
      ['shadow', undefined, '2'],
    ]);
  });

  it('never shadows a request pinned to a version', async () => {
    const compared = async () =>
      (await client.compare('iris', { serving: '1', candidate: '3' }))[0]?.compared ?? 0;
    const before = await compared();
    await client.predict('iris', { features: [FLOWERS[0] as number[]] }, { version: '1' });
    // A shadowed request after it: its copy queues behind the pinned one's, had it one.
    await client.predict('iris', { features: [FLOWERS[0] as number[]] });
    await expect.poll(compared, { timeout: 20_000 }).toBeGreaterThanOrEqual(before + 1);
    expect(await compared()).toBe(before + 1);
  });

  it('copies only the sampled share of the traffic (shadowSample)', async () => {
    const compared = async () =>
      (await client.compare('iris', { serving: '1', candidate: '3' }))[0]?.compared ?? 0;
    const before = await compared();
    const none = await createClient({ redisUrl, prefix, shadowSample: 0 });
    try {
      for (const flower of FLOWERS.slice(0, 5)) await none.predict('iris', { features: [flower] });
    } finally {
      await none.close();
    }
    // A copied request after them: its copy is compared once theirs would have been.
    await client.predict('iris', { features: [FLOWERS[0] as number[]] });
    await expect.poll(compared, { timeout: 20_000 }).toBeGreaterThanOrEqual(before + 1);
    expect(await compared()).toBe(before + 1);
  });

  it('drops and counts the copies for a shadow version no worker serves, answering callers', async () => {
    await admin.setShadow('iris', 'production', '7', 'test');
    await expect
      .poll(async () => (await admin.status('iris')).shadows)
      .toEqual({ production: '7' });
    const answer = await client.predict('iris', { features: [FLOWERS[1] as number[]] });
    expect(answer.version).toBe('1');
    await expect
      .poll(async () => (await client.compare('iris', { candidate: '7' }))[0]?.droppedBy)
      .toEqual({ 'no-worker': 1 });
  });

  it('removes the shadow with its alias', async () => {
    await admin.removeAlias('iris', 'production', { by: 'test' });
    expect((await admin.status('iris')).shadows).toEqual({});
    const [last] = await admin.history('iris', 1);
    expect(last).toMatchObject({ action: 'delete', shadowFrom: '7' });
  });
});

describe('replay of a logged window against a candidate version', () => {
  const prefix = uniquePrefix();
  let repository: TempRepository;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let client: QueueClient;

  beforeAll(async () => {
    repository = await tempRepository({ iris: ['1', '2'] });
    await addPerturbedIris(repository, '3', IRIS_BIAS_PERTURBED);
    worker = await startInProcessWorker(redisUrl, prefix, {
      MODEL_REPOSITORY: repository.root,
      PREDICTION_LOG_SAMPLE: '1',
    });
    client = await createClient({ redisUrl, prefix });
    const admin = await createModelAdmin({ redisUrl, prefix });
    await admin.setAlias('iris', 'production', { '1': 100 });
    await admin.close();
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await worker?.close();
    await repository?.remove();
    await dropPrefix(redisUrl, prefix);
  });

  it('gives the expected disagreement against the perturbed version, and agreement 1 against the identical one', async () => {
    await expect.poll(() => client.jobIdFor('iris')).toMatch(/^iris\.1\./);
    await predictAll(client);
    // The log is written after each answer: wait until it holds every prediction.
    let logged = 0;
    await expect
      .poll(async () => {
        logged = 0;
        for await (const entry of client.predictionLog('iris'))
          if (entry.version === '1') logged += 1;
        return logged;
      })
      .toBe(FLOWERS.length);
    const progress: number[] = [];
    const [report] = await client.replay('iris', { version: '3', concurrency: 8 }, (p) =>
      progress.push(p.compared),
    );
    expect(report).toMatchObject({ source: 'replay', serving: '1', candidate: '3', compared: 40 });
    expect(progress.at(-1)).toBe(40);
    const [output] = report?.outputs ?? [];
    expect(output?.agreement).toBeCloseTo(perturbed.agreement, 10);
    expect(output?.maxAbs).toBeCloseTo(perturbed.maxAbs, 4);
    expect(output?.maxRel).toBeCloseTo(perturbed.maxRel, 4);
    expect(report?.latency.serving.meanQueuedMs).toBeNull();

    const [identical] = await client.replay('iris', { version: '2', since: 0, limit: 40 });
    expect(identical).toMatchObject({ compared: 40 });
    expect(identical?.outputs[0]?.agreement).toBe(1);
    // The replay reports are kept: compare shows them, labelled replay.
    const kept = await client.compare('iris', { source: 'replay' });
    expect(kept.map((r) => `${r.source}:${r.serving}:${r.candidate}`)).toEqual([
      'replay:1:2',
      'replay:1:3',
    ]);
  });

  it('replays and compares from the command line, as printed in docs/cli.md', async () => {
    const flags = ['--redis-url', redisUrl, '--prefix', prefix];
    const replay = await runCli([
      'replay',
      'iris',
      '--version',
      '3',
      '--serving',
      '1',
      '--window',
      '24h',
      '--quiet',
      ...flags,
    ]);
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
    const [head, , row] = replay.stdout.split('\n');
    expect(head).toBe('iris replay 1 -> 3: 40 compared, 0 dropped');
    expect(row?.trim().split(/\s+/).slice(0, 2)).toEqual([
      'probabilities',
      String(Number(perturbed.agreement.toPrecision(4))),
    ]);
    const compare = await runCli([
      'models',
      'compare',
      'iris',
      '--source',
      'replay',
      '--json',
      ...flags,
    ]);
    expect(compare.code).toBe(0);
    const body = JSON.parse(compare.stdout) as { comparisons: { candidate: string }[] };
    expect(body.comparisons.map((c) => c.candidate)).toEqual(['2', '3']);
  });

  it('refuses a replay against a version that is not a version', async () => {
    await expect(client.replay('iris', { version: 'three' })).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
    });
  });
});
