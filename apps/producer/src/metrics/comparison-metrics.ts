import { Gauge, type Registry } from 'prom-client';
import type { ComparisonReport } from '@conveyor/shared';

/** How long a scrape waits for the comparison reads before it leaves their series out, in ms. */
const COMPARISON_READ_BOUND_MS = 2000;

/** Scrapes within this long of a read share it (the gauges are filled from one read), in ms. */
const COMPARISON_CACHE_MS = 1000;

const PAIR = ['model', 'source', 'serving', 'candidate'] as const;
type PairLabel = (typeof PAIR)[number];

/** The reports of every model, or undefined when the read failed or was late. */
function boundedRead(
  reports: () => Promise<readonly ComparisonReport[]>,
): Promise<readonly ComparisonReport[] | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), COMPARISON_READ_BOUND_MS);
  });
  return Promise.race([reports().catch(() => undefined), bound]).finally(() => clearTimeout(timer));
}

/**
 * Gauges of the shadow and replay comparisons of every model's version pairs (see
 * docs/lifecycle.md), read at scrape time with `reports` (client.compare of every model): answers
 * compared and dropped, agreement and largest differences per output, engine latency per side.
 * Every series of a scrape whose read fails or takes longer than 2 s is absent.
 */
export function registerComparisonMetrics(
  registry: Registry,
  reports: (() => Promise<readonly ComparisonReport[]>) | undefined,
): void {
  let cached: { at: number; read: Promise<readonly ComparisonReport[] | undefined> } | undefined;
  const read = () => {
    if (!reports) return Promise.resolve(undefined);
    if (!cached || Date.now() - cached.at >= COMPARISON_CACHE_MS)
      cached = { at: Date.now(), read: boundedRead(reports) };
    return cached.read;
  };
  const gauge = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    fill: (g: Gauge<L>, report: ComparisonReport, pair: Record<PairLabel, string>) => void,
  ) => {
    const g: Gauge<L> = new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        g.reset();
        for (const report of (await read()) ?? []) {
          const { model, source, serving, candidate } = report;
          fill(g, report, { model, source, serving, candidate });
        }
      },
    });
  };

  gauge(
    'conveyor_comparison_answers',
    'Answers compared for a version pair (shadow copies or replayed jobs).',
    PAIR,
    (g, r, pair) => g.set(pair, r.compared),
  );
  gauge(
    'conveyor_comparison_dropped',
    'Shadow copies not sent or replayed jobs without an answer, by reason (no-worker, backlog, incompatible, too-large, error, failed).',
    [...PAIR, 'reason'],
    (g, r, pair) => {
      for (const [reason, n] of Object.entries(r.droppedBy)) g.set({ ...pair, reason }, n);
    },
  );
  gauge(
    'conveyor_comparison_agreement_ratio',
    'Share of class rows of an output whose top class is the same for both versions of the pair.',
    [...PAIR, 'output'],
    (g, r, pair) => {
      for (const o of r.outputs)
        if (o.agreement !== null) g.set({ ...pair, output: o.name }, o.agreement);
    },
  );
  gauge(
    'conveyor_comparison_max_abs_difference',
    'Largest absolute difference of a float element of an output between the two versions.',
    [...PAIR, 'output'],
    (g, r, pair) => {
      for (const o of r.outputs)
        if (o.maxAbs !== null) g.set({ ...pair, output: o.name }, o.maxAbs);
    },
  );
  gauge(
    'conveyor_comparison_max_rel_difference',
    'Largest relative difference |a-b|/max(|a|,|b|) of a float element of an output between the two versions.',
    [...PAIR, 'output'],
    (g, r, pair) => {
      for (const o of r.outputs)
        if (o.maxRel !== null) g.set({ ...pair, output: o.name }, o.maxRel);
    },
  );
  gauge(
    'conveyor_comparison_latency_seconds',
    'Engine time of the compared answers per side (serving or candidate) at quantile 0.5 and 0.95, from a histogram (within 19 %).',
    [...PAIR, 'side', 'quantile'],
    (g, r, pair) => {
      for (const side of ['serving', 'candidate'] as const) {
        const l = r.latency[side];
        if (l.p50Ms !== null) g.set({ ...pair, side, quantile: '0.5' }, l.p50Ms / 1000);
        if (l.p95Ms !== null) g.set({ ...pair, side, quantile: '0.95' }, l.p95Ms / 1000);
      }
    },
  );
}
