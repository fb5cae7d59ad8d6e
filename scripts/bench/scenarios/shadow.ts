/**
 * Scenario 14, shadow: what a shadow version costs the caller. The same closed-loop load of
 * one-row iris predictions runs twice against one worker process serving iris 1 and 2 (identical
 * copies): once with `production` alone, once with 2 as production's shadow, interleaved over
 * several rounds. It reports the caller's p50/p95 side by side, and how many copies were compared.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, createModelAdmin } from '@conveyor/sdk';
import type { BenchContext } from '../context.js';
import { BUILT, percentile, round, say } from '../lib.js';
import type { BenchResults, ShadowResult } from '../results.js';
import { oneRowInputs } from '../workloads.js';

/** Runs `total` predictions, `concurrency` at a time; returns each one's latency in ms. */
async function load(
  predict: () => Promise<unknown>,
  total: number,
  concurrency: number,
): Promise<number[]> {
  const times: number[] = [];
  let started = 0;
  const lane = async () => {
    while (started < total) {
      started += 1;
      const t0 = performance.now();
      await predict();
      times.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return times;
}

/**
 * Open loop: `total` predictions started at `perSecond` (in ticks of 10 ms) whatever the answers
 * do, as independent callers send them; returns each one's latency in ms.
 */
async function paced(
  predict: () => Promise<unknown>,
  total: number,
  perSecond: number,
): Promise<number[]> {
  const times: number[] = [];
  const calls: Promise<void>[] = [];
  const started = performance.now();
  while (calls.length < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * perSecond) / 1000) + 1);
    while (calls.length < due) {
      const t0 = performance.now();
      calls.push(predict().then(() => void times.push(performance.now() - t0)));
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await Promise.all(calls);
  return times;
}

export async function runShadow(ctx: BenchContext, results: BenchResults): Promise<void> {
  say('\n14. shadow: caller latency with and without a shadow version (iris 1, shadow 2)');
  const repository = await mkdtemp(join(tmpdir(), 'conveyor-bench-shadow-'));
  for (const version of ['1', '2'])
    await cp(join(ctx.repository, 'iris', '1'), join(repository, 'iris', version), {
      recursive: true,
    });
  const prefix = ctx.prefixFor('shadow');
  const worker = await ctx.start(
    BUILT.worker,
    { REDIS_KEY_PREFIX: prefix, MODEL_REPOSITORY: repository, MODELS: 'iris' },
    'worker ready',
  );
  const client = await createClient({ redisUrl: ctx.redis.url, prefix });
  // The same traffic from a client that copies a tenth of it (SHADOW_SAMPLE 0.1).
  const sampledClient = await createClient({
    redisUrl: ctx.redis.url,
    prefix,
    shadowSample: SAMPLE,
  });
  const admin = await createModelAdmin({ redisUrl: ctx.redis.url, prefix });
  try {
    await admin.setAlias('iris', 'production', { '1': 100 });
    const inputs = oneRowInputs('iris');
    const predict = () => client.predict('iris', inputs);
    const predictSampled = () => sampledClient.predict('iris', inputs);
    const perRound = ctx.quick ? 200 : 2000;
    const rounds = ctx.quick ? 1 : 3;
    await load(predict, perRound / 4, CONCURRENCY); // warm-up
    const off: number[] = [];
    const on: number[] = [];
    const sampled: number[] = [];
    for (let r = 0; r < rounds; r++) {
      await admin.removeShadow('iris', 'production').catch(() => undefined);
      off.push(...(await load(predict, perRound, CONCURRENCY)));
      await admin.setShadow('iris', 'production', '2');
      on.push(...(await load(predict, perRound, CONCURRENCY)));
      sampled.push(...(await load(predictSampled, perRound, CONCURRENCY)));
    }
    // Below capacity (about a fifth of what the closed loop above runs at), where the copies use
    // the worker's spare time: the case the shadow's lowest priority is for.
    const closedLoopPerSecond = (CONCURRENCY * 1000) / (sum(off) / off.length);
    const rate = Math.max(50, Math.round(closedLoopPerSecond / 5));
    const pacedOff: number[] = [];
    const pacedOn: number[] = [];
    const roundP50s = { off: [] as number[], on: [] as number[] };
    for (let r = 0; r < rounds + 1; r++) {
      await admin.removeShadow('iris', 'production').catch(() => undefined);
      const off = await paced(predict, perRound / 2, rate);
      await admin.setShadow('iris', 'production', '2');
      const on = await paced(predict, perRound / 2, rate);
      pacedOff.push(...off);
      pacedOn.push(...on);
      roundP50s.off.push(round2(percentile(off, 50)));
      roundP50s.on.push(round2(percentile(on, 50)));
    }
    const [report] = await client.compare('iris', { serving: '1', candidate: '2' });
    const result: ShadowResult = {
      requests: perRound * rounds,
      off: { p50Ms: round2(percentile(off, 50)), p95Ms: round2(percentile(off, 95)) },
      on: { p50Ms: round2(percentile(on, 50)), p95Ms: round2(percentile(on, 95)) },
      sampled: {
        sample: SAMPLE,
        p50Ms: round2(percentile(sampled, 50)),
        p95Ms: round2(percentile(sampled, 95)),
      },
      compared: report?.compared ?? 0,
      paced: {
        perSecond: rate,
        requests: pacedOff.length,
        off: { p50Ms: round2(percentile(pacedOff, 50)), p95Ms: round2(percentile(pacedOff, 95)) },
        on: { p50Ms: round2(percentile(pacedOn, 50)), p95Ms: round2(percentile(pacedOn, 95)) },
        roundP50Ms: roundP50s,
      },
    };
    results.shadow = result;
    say(`   shadow off: p50 ${result.off.p50Ms} ms, p95 ${result.off.p95Ms} ms`);
    say(`   shadow on:  p50 ${result.on.p50Ms} ms, p95 ${result.on.p95Ms} ms`);
    say(`   sampled ${SAMPLE}: p50 ${result.sampled?.p50Ms} ms, p95 ${result.sampled?.p95Ms} ms`);
    say(`   copies compared: ${result.compared} of ${result.requests}`);
    const { paced: p } = result;
    say(
      `   at ${p?.perSecond}/s (open loop): p50 ${p?.off.p50Ms} ms without, ${p?.on.p50Ms} ms with`,
    );
  } finally {
    await client.close();
    await sampledClient.close();
    await admin.close();
    await ctx.stop(worker);
    await rm(repository, { recursive: true, force: true });
  }
}

const round2 = (n: number) => round(n, 2);
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/** Predictions in flight in the closed-loop rounds. */
const CONCURRENCY = 8;

/** The share of the traffic the sampled client copies. */
const SAMPLE = 0.1;
