/**
 * @file docs/scaling.md quotes the bench: each measured figure carries a marker
 * `<!-- bench:path.in.benchmarks.json -->` and each figure worked out from them a marker
 * `<!-- calc:name -->`. This module reads those markers, works out the calculated figures, and
 * rewrites the page from new results (`pnpm bench:docs`); test/docs-scaling.test.ts checks it.
 */

/** A figure as the page shows it: its text, value and decimals. */
export interface Shown {
  text: string;
  value: number;
  decimals: number;
}

export type BenchResults = Record<string, unknown>;

const shown = (text: string): Shown => {
  const plain = text.replace(/,/g, '');
  return { text, value: Number(plain), decimals: plain.split('.')[1]?.length ?? 0 };
};

const MARKED = (kind: string) =>
  new RegExp(`([\\d][\\d,]*(?:\\.\\d+)?)<!-- ${kind}:([\\w.-]+) -->`, 'g');

/** Every figure of the page followed by a marker of `kind`, as [name, figure]. */
export function markedFigures(page: string, kind: 'bench' | 'calc'): [string, Shown][] {
  return [...page.matchAll(MARKED(kind))].map((m) => [m[2]!, shown(m[1]!)]);
}

/** A number of benchmarks.json by its dotted path, or undefined. */
export function benchValue(bench: BenchResults, path: string): number | undefined {
  const value = path.split('.').reduce<unknown>((node, key) => {
    return node !== null && typeof node === 'object'
      ? (node as Record<string, unknown>)[key]
      : undefined;
  }, bench);
  return typeof value === 'number' ? value : undefined;
}

const IMAGES_PER_SECOND = 2000;
const PLANNED_BUSY = 0.7;
const perJobMs = (cpuS: number, jobs: number) => (cpuS / jobs) * 1000;

/** The page's worked figures, from the bench figures (`figure` reads one), as the page explains them. */
export function scalingCalculations(figure: (path: string) => number): Record<string, number> {
  const image = (key: string) => figure(`endToEnd.text-direction.${key}`);
  const iris = (key: string) => figure(`endToEnd.iris.${key}`);
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

/** `value` as the page shows a figure like `like`: the same decimals, thousands with commas. */
function formatLike(value: number, like: Shown): string {
  const fixed = value.toFixed(like.decimals);
  if (Math.abs(value) < 1000) return fixed;
  const [whole = '', part] = fixed.split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return part === undefined ? grouped : `${grouped}.${part}`;
}

/** The page with every marked figure set from `bench` and worked out again. */
export function rewriteScalingPage(page: string, bench: BenchResults): string {
  const figure = (path: string): number => {
    const value = benchValue(bench, path);
    if (value === undefined) throw new Error(`docs/benchmarks.json has no ${path}`);
    return value;
  };
  const calc = scalingCalculations(figure);
  return page
    .replace(MARKED('bench'), (_, text: string, path: string) => {
      return `${formatLike(figure(path), shown(text))}<!-- bench:${path} -->`;
    })
    .replace(MARKED('calc'), (_, text: string, name: string) => {
      const value = calc[name];
      if (value === undefined) throw new Error(`docs/scaling.md: no calculation named ${name}`);
      return `${formatLike(value, shown(text))}<!-- calc:${name} -->`;
    });
}
