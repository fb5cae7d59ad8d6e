import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createProducerMetrics } from '../../apps/producer/src/metrics/producer-metrics.js';
import { createWorkerMetrics, type WorkerMetrics } from '../../apps/worker/src/metrics.js';
import { DASHBOARD_VARIABLES, dashboardQueries } from '../../scripts/lib/grafana-dashboard.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** The shipped Prometheus files. */
export const PROMETHEUS_DIR = join(root, 'deploy/prometheus');
export const RULES_FILE = join(PROMETHEUS_DIR, 'rules/conveyor.rules.yml');

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'Inf',
  'NaN',
]);

/**
 * The metric names a PromQL expression selects: what is left once strings, label matchers, ranges,
 * grouping clauses, function names and keywords are taken out.
 */
export function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\[[^\]]*\]/g, '[]')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  // A name followed by `(` calls a function.
  const names = [...bare.matchAll(/(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)]
    .filter(([, name, call]) => call === undefined && !KEYWORDS.has(name!))
    .map(([, name]) => name!);
  return [...new Set(names)];
}

/** The series names a registry exports: a histogram's `_bucket`, `_sum` and `_count`. */
async function exported(registry: WorkerMetrics['registry']): Promise<string[]> {
  return (await registry.getMetricsAsJSON()).flatMap(({ name, type }) =>
    String(type) === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name],
  );
}

/** Names the recording rules of the shipped rules file write. */
export function recordedNames(): string[] {
  const text = readFileSync(RULES_FILE, 'utf8');
  return [...text.matchAll(/^\s*- record: (\S+)$/gm)].map(([, name]) => name!);
}

/**
 * Every metric name a query may use: what the worker's and the producer's registries export, the
 * recording rules' names, and Prometheus's own `up`.
 */
export async function knownMetricNames(): Promise<Set<string>> {
  const producer = createProducerMetrics({
    models: () => Promise.resolve([]),
    status: () => Promise.reject(new Error('names only: no status is read')),
  });
  return new Set([
    ...(await exported(createWorkerMetrics().registry)),
    ...(await exported(producer.registry)),
    ...recordedNames(),
    'up',
  ]);
}

/** The dashboard's queries with Grafana's variables replaced, as Prometheus can run them. */
export function runnableDashboardQueries(): { panel: string; expr: string }[] {
  return dashboardQueries().map(({ panel, query }) => ({
    panel,
    expr: Object.entries(DASHBOARD_VARIABLES).reduce(
      (expr, [variable, value]) => expr.replaceAll(variable, value),
      query.expr,
    ),
  }));
}
