import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import {
  comparisonKey,
  comparisonReport,
  createLogger,
  createTensor,
  newJobId,
  shadowPendingKey,
  type ComparisonPair,
  type JobPayload,
} from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import type { CompletedPrediction } from './prediction-observer.js';
import { createShadowObserver } from './shadow-observer.js';

const redisUrl = inject('redisUrl');
const log = createLogger({ component: 'worker', level: 'silent' });
const pair: ComparisonPair = { source: 'shadow', model: 'iris', serving: '1', candidate: '2' };

/** One side of a pair: the serving job (its payload names the copy) or the copy. */
function side(
  serving: string,
  copy: string,
  isCopy: boolean,
  scores: number[],
): CompletedPrediction {
  const payload = (isCopy ? { shadowOf: serving } : { shadowedBy: copy }) as unknown as JobPayload;
  return {
    jobId: isCopy ? copy : serving,
    model: 'iris',
    version: isCopy ? '2' : '1',
    payload,
    outputs: { probabilities: createTensor('float32', [1, 3], Float32Array.from(scores)) },
    queuedMs: 1,
    inferenceMs: 1,
    completedAt: Date.now(),
  };
}

describe('shadow observer', () => {
  const prefix = uniquePrefix();
  const redis = new Redis(redisUrl);
  afterAll(async () => {
    await dropPrefix(redisUrl, prefix);
    redis.disconnect();
  });
  /** An observer whose gate never opens: it meets sides only when full or closed. */
  const closedGateObserver = () =>
    createShadowObserver({
      connection: redis,
      prefix,
      log,
      whenQuiet: () => new Promise<void>(() => undefined),
    });

  it('meets the sides held in one round, also both sides of a pair, and counts each pair', async () => {
    // Rounds run only when the test says so, as the gate would when the process is quiet.
    const rounds: (() => Promise<void>)[] = [];
    const observer = createShadowObserver({
      connection: redis,
      prefix,
      log,
      whenQuiet: (work) => new Promise<void>((done) => rounds.push(() => work().then(done))),
    });
    const jobs = [0, 1, 2].map(() => [newJobId('iris', '1'), newJobId('iris', '2')] as const);
    const [a, b, c] = jobs as [(typeof jobs)[0], (typeof jobs)[0], (typeof jobs)[0]];
    // a: both sides in the first round (agree); b: serving side now, copy later (disagree);
    // c: the copy alone, never met here (left pending for its serving side).
    void observer.completed(side(a[0], a[1], false, [0.1, 0.7, 0.2]));
    void observer.completed(side(b[0], b[1], false, [0.8, 0.1, 0.1]));
    void observer.completed(side(a[0], a[1], true, [0.1, 0.7, 0.2]));
    expect(rounds).toHaveLength(1);
    await rounds.shift()?.();
    void observer.completed(side(b[0], b[1], true, [0.1, 0.1, 0.8]));
    void observer.completed(side(c[0], c[1], true, [0.2, 0.2, 0.6]));
    expect(rounds).toHaveLength(1);
    await rounds.shift()?.();

    const report = comparisonReport(pair, await redis.hgetall(comparisonKey(prefix, pair)));
    expect(report.compared).toBe(2);
    expect(report.outputs[0]?.agreement).toBe(0.5);
    expect(await redis.exists(shadowPendingKey(prefix, 'iris', a[0]))).toBe(0);
    expect(await redis.exists(shadowPendingKey(prefix, 'iris', b[0]))).toBe(0);
    expect(await redis.hkeys(shadowPendingKey(prefix, 'iris', c[0]))).toEqual(['c']);
  });

  it('meets at once, without the gate, once it holds 1,024 sides', async () => {
    const observer = closedGateObserver();
    const servings = Array.from({ length: 1024 }, () => newJobId('iris', '1'));
    for (const serving of servings.slice(0, 1023))
      void observer.completed(side(serving, newJobId('iris', '2'), false, [1, 0, 0]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await redis.exists(shadowPendingKey(prefix, 'iris', servings[0] as string))).toBe(0);
    void observer.completed(
      side(servings[1023] as string, newJobId('iris', '2'), false, [1, 0, 0]),
    );
    const pending = servings.map((serving) => shadowPendingKey(prefix, 'iris', serving));
    await vi.waitFor(async () => expect(await redis.exists(...pending)).toBe(1024), {
      timeout: 10_000,
    });
  });

  it('meets what it holds when closed', async () => {
    const observer = closedGateObserver();
    const [serving, copy] = [newJobId('iris', '1'), newJobId('iris', '2')];
    void observer.completed(side(serving, copy, false, [1, 0, 0]));
    await observer.close();
    expect(await redis.hkeys(shadowPendingKey(prefix, 'iris', serving))).toEqual(['s']);
  });
});
