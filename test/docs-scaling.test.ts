/**
 * docs/scaling.md quotes the bench: each measured figure carries a marker
 * `<!-- bench:path.in.benchmarks.json -->` and each figure worked out from them a marker
 * `<!-- calc:name -->`. Both must agree with docs/benchmarks.json at the precision shown, so a
 * new `pnpm bench --save` that moves a figure fails here until the page is updated.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../scripts/lib/worker-process.js';

const page = readFileSync(join(ROOT, 'docs/scaling.md'), 'utf8');
const bench = JSON.parse(readFileSync(join(ROOT, 'docs/benchmarks.json'), 'utf8')) as Record<
  string,
  unknown
>;

/**
 * Scenario 13 (cold start) is newer than the saved results: until a full run saves it, its
 * figures come from a quick run and are read from the page itself. Once saved, they must match.
 */
const PENDING_SCENARIOS = ['coldStart'].filter((key) => !(key in bench));

/** A figure as the page shows it: its value and its decimals. */
interface Shown {
  text: string;
  value: number;
  decimals: number;
}

const shown = (text: string): Shown => {
  const plain = text.replace(/,/g, '');
  return { text, value: Number(plain), decimals: plain.split('.')[1]?.length ?? 0 };
};

/** Every figure of the page followed by a marker of `kind`, as [name, figure]. */
const marked = (kind: 'bench' | 'calc'): [string, Shown][] =>
  [...page.matchAll(new RegExp(`([\\d][\\d,]*(?:\\.\\d+)?)<!-- ${kind}:([\\w.-]+) -->`, 'g'))].map(
    (m) => [m[2]!, shown(m[1]!)],
  );

function benchValue(path: string): number | undefined {
  const value = path.split('.').reduce<unknown>((node, key) => {
    return node !== null && typeof node === 'object'
      ? (node as Record<string, unknown>)[key]
      : undefined;
  }, bench);
  return typeof value === 'number' ? value : undefined;
}

/** A bench figure: from the results, or (pending scenarios only) as the page states it. */
function figure(path: string): number {
  const value = benchValue(path);
  if (value !== undefined) return value;
  const onPage = marked('bench').find(([name]) => name === path)?.[1];
  if (PENDING_SCENARIOS.includes(path.split('.')[0]!) && onPage) return onPage.value;
  throw new Error(`docs/benchmarks.json has no ${path}`);
}

const IMAGES_PER_SECOND = 2000;
const PLANNED_BUSY = 0.7;
const image = (key: string) => figure(`endToEnd.text-direction.${key}`);
const iris = (key: string) => figure(`endToEnd.iris.${key}`);
const perJobMs = (cpuS: number, jobs: number) => (cpuS / jobs) * 1000;

/** The page's worked figures, from the bench figures, as the page explains them. */
function calculations(): Record<string, number> {
  const jps = image('jobsPerSecond');
  const workers = Math.ceil(IMAGES_PER_SECOND / (jps * PLANNED_BUSY));
  const producerRate = figure('ingest.text-direction.conveyor.requestsPerSecond');
  const producers = Math.ceil(IMAGES_PER_SECOND / (producerRate * PLANNED_BUSY));
  const redisMs = perJobMs(image('cpuSeconds.redis'), image('jobs'));
  const bodyMB = figure('ingest.text-direction.bodyBytes') / 1e6;
  return {
    irisWorkerMsPerJob: perJobMs(iris('cpuSeconds.worker'), iris('jobs')),
    imageWorkerMsPerJob: perJobMs(image('cpuSeconds.worker'), image('jobs')),
    imageRedisMsPerJob: redisMs,
    irisRedisMsPerJob: perJobMs(iris('cpuSeconds.redis'), iris('jobs')),
    imageRedisJobsPerCore: 1000 / redisMs,
    imageWaitingGB: (10_000 * figure('coldStart.text-direction.waitingJobBytes')) / 1e9,
    imageRetainedGB: (10_000 * figure('coldStart.text-direction.retainedJobBytes')) / 1e9,
    imageMBps: IMAGES_PER_SECOND * bodyMB,
    imageGbps: (IMAGES_PER_SECOND * bodyMB * 8) / 1000,
    workerAt70: jps * PLANNED_BUSY,
    workersExact: IMAGES_PER_SECOND / (jps * PLANNED_BUSY),
    workers,
    workerBusyPercent: (IMAGES_PER_SECOND / (workers * jps)) * 100,
    workersPlusOne: workers + 1,
    spareImagesPerSecond: workers * jps - IMAGES_PER_SECOND,
    producersExact: IMAGES_PER_SECOND / (producerRate * PLANNED_BUSY),
    producers,
    producerBusyPercent: (IMAGES_PER_SECOND / (producers * producerRate)) * 100,
    producersPlusOne: producers + 1,
    redisCoreShare: (IMAGES_PER_SECOND * redisMs) / 1000,
    imageWaitingAt1sMB:
      (IMAGES_PER_SECOND * figure('coldStart.text-direction.waitingJobBytes')) / 1e6,
  };
}

const atPrecision = (value: number, { decimals }: Shown) => Number(value.toFixed(decimals));

describe('docs/scaling.md', () => {
  it('marks its figures', () => {
    expect(marked('bench').length).toBeGreaterThan(20);
    expect(marked('calc').length).toBeGreaterThan(15);
  });

  it('quotes every bench figure as docs/benchmarks.json has it', () => {
    const wrong = marked('bench').filter(([path, s]) => atPrecision(figure(path), s) !== s.value);
    expect(wrong.map(([path, s]) => `${path}: ${s.text} vs ${figure(path)}`)).toEqual([]);
  });

  it('works out every calculated figure from those bench figures', () => {
    const calc = calculations();
    const wrong = marked('calc').filter(([name, s]) => {
      const value = calc[name];
      return value === undefined || atPrecision(value, s) !== s.value;
    });
    expect(wrong.map(([name, s]) => `${name}: ${s.text} vs ${calc[name]}`)).toEqual([]);
    const used = new Set(marked('calc').map(([name]) => name));
    expect(Object.keys(calc).filter((name) => !used.has(name))).toEqual([]);
  });

  it('catches a figure that drifts from the results', () => {
    const path = 'endToEnd.text-direction.jobsPerSecond';
    const s = marked('bench').find(([p]) => p === path)?.[1];
    expect(s && atPrecision(figure(path) + 1, s)).not.toBe(s?.value);
  });

  it('leaves a heading for the Redis Cluster section it links to', () => {
    expect(page).toMatch(/^## Redis Cluster$/m);
    expect(page).toContain('(#redis-cluster)');
  });
});
