/**
 * docs/operations.md lists every metric of the worker's and the producer's registries, with its
 * type and labels, and names no metric that does not exist: built from the registries themselves.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createProducerMetrics } from '../apps/producer/src/metrics/producer-metrics.js';
import { createWorkerMetrics } from '../apps/worker/src/metrics.js';
import { tableRows } from './support/markdown.js';

const doc = readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8');

interface Documented {
  type: string;
  labels: string[];
  description: string;
}

/** A registered metric, with the label names prom-client keeps on the instance. */
interface Registered {
  name: string;
  type: string;
  labels: string[];
  help: string;
}

type Registry = ReturnType<typeof createWorkerMetrics>['registry'];

/** The metrics of a registry named `conveyor_*`; prom-client's default ones have one row for all. */
const registered = (registry: Registry): Registered[] =>
  registry.getMetricsAsArray().map((metric) => ({
    name: metric.name,
    type: String(metric.type),
    labels: [...((metric as { labelNames?: readonly string[] }).labelNames ?? [])].sort(),
    help: metric.help,
  }));

/** Rows of the doc's tables whose first cell is one backticked metric name, by name. */
function metricRows(markdown: string): Map<string, Documented> {
  const rows = new Map<string, Documented>();
  for (const [name, cells] of tableRows(markdown, /^`([a-z][a-z0-9_]*)`$/)) {
    if (cells.length < 4) continue;
    rows.set(name, {
      type: cells[1] ?? '',
      labels: [...(cells[2] ?? '').matchAll(/`([a-z_]+)`/g)].map((m) => m[1] ?? '').sort(),
      description: cells[3] ?? '',
    });
  }
  return rows;
}

const metrics = [
  ...registered(createWorkerMetrics().registry),
  ...registered(
    createProducerMetrics({
      models: () => Promise.resolve([]),
      status: () => Promise.reject(new Error('the docs test reads no status')),
    }).registry,
  ),
].filter((metric) => metric.name.startsWith('conveyor_'));
const names = new Set(metrics.map((metric) => metric.name));
const rows = metricRows(doc);

describe('docs/operations.md metrics', () => {
  it('finds the metrics of both registries', () => {
    expect(names).toContain('conveyor_jobs_total');
    expect(names).toContain('conveyor_http_requests_total');
    expect(names).toContain('conveyor_queue_backlog_seconds');
  });

  it('lists every metric of the worker and producer registries with its type and labels', () => {
    const wrong = metrics
      .map((metric) => ({ metric, row: rows.get(metric.name) }))
      .filter(
        ({ metric, row }) =>
          row === undefined ||
          row.type !== metric.type ||
          row.labels.join() !== metric.labels.join() ||
          row.description === '' ||
          metric.help === '',
      )
      .map(({ metric, row }) => ({
        name: metric.name,
        registry: { type: metric.type, labels: metric.labels },
        doc: row && { type: row.type, labels: row.labels },
      }));
    expect(wrong).toEqual([]);
  });

  it('has a row for no metric that the registries do not have', () => {
    const unknown = [...rows.keys()].filter(
      (name) => name.startsWith('conveyor_') && !names.has(name),
    );
    expect(unknown).toEqual([]);
  });

  it('names no conveyor_ series that does not exist anywhere in its text', () => {
    const series = (name: string) =>
      names.has(name) || names.has(name.replace(/_(bucket|sum|count)$/, ''));
    // Recording rules (`model_version:conveyor_jobs_failed:rate5m`) are not metrics of ours.
    const mentioned = [...doc.matchAll(/(?<![:\w])(conveyor_[a-z0-9_]*)(\*|(?![:\w]))/g)];
    const unknown = mentioned
      .map(([, name = '', star]) => ({ name, star: star === '*' }))
      .filter(({ name, star }) =>
        star ? ![...names].some((known) => known.startsWith(name)) : !series(name),
      )
      .map(({ name, star }) => (star ? `${name}*` : name));
    expect([...new Set(unknown)]).toEqual([]);
  });
});
