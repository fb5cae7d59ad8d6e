/**
 * The Grafana dashboard of the compose profile `observability`, as data: panels are listed here and
 * laid out by code, and `scripts/gen-grafana-dashboard.ts` writes the JSON Grafana provisions
 * (deploy/grafana/dashboards/conveyor.json). A test checks the file matches and that every query
 * runs on a real Prometheus against the metrics the producer and the workers export.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';

/** Where Grafana's provisioning reads the dashboard (docker-compose.yml mounts the folder). */
export const DASHBOARD_FILE = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../deploy/grafana/dashboards/conveyor.json',
);

/** One query of a panel; `legend` is Grafana's legend format (`{{label}}`). */
export interface PanelQuery {
  expr: string;
  legend: string;
}

interface PanelSpec {
  title: string;
  description: string;
  /** Grafana unit id: `s`, `ops`, `percentunit`, `bytes`, `short`. */
  unit: string;
  queries: PanelQuery[];
  /** Half the width (the default) or the full width of the dashboard. */
  wide?: boolean;
  type?: 'timeseries' | 'stat';
}

interface RowSpec {
  title: string;
  panels: PanelSpec[];
}

/** Template variables a query may use; the test substitutes them before evaluating a query. */
export const DASHBOARD_VARIABLES = Object.freeze({
  $model: '.*',
  $__rate_interval: '1m',
});

const M = 'model=~"$model"';
const RATE = '$__rate_interval';
const byVersion = '{{model}}@{{version}}';

const quantile = (q: number, metric: string, by = 'model, version'): string =>
  `histogram_quantile(${q}, sum by (le, ${by}) (rate(${metric}_bucket{${M}}[${RATE}])))`;

const ROWS: RowSpec[] = [
  {
    title: 'Jobs',
    panels: [
      {
        title: 'Throughput',
        description: 'Jobs completed per second, by model version (conveyor_jobs_total).',
        unit: 'ops',
        queries: [
          {
            expr: `sum by (model, version) (rate(conveyor_jobs_total{outcome="completed", ${M}}[${RATE}]))`,
            legend: byVersion,
          },
        ],
      },
      {
        title: 'Failures by code',
        description:
          'Job attempts that failed for good (failed) or will be tried again (retried), by error code (docs/errors.md).',
        unit: 'ops',
        queries: [
          {
            expr: `sum by (model, version, outcome, code) (rate(conveyor_jobs_total{outcome=~"failed|retried", ${M}}[${RATE}]))`,
            legend: `${byVersion} {{outcome}} {{code}}`,
          },
        ],
      },
      {
        title: 'End-to-end latency',
        description: 'From enqueueing a job to its result being ready: p50, p95, p99.',
        unit: 's',
        queries: [0.5, 0.95, 0.99].map((q) => ({
          expr: quantile(q, 'conveyor_job_end_to_end_seconds'),
          legend: `${byVersion} p${q * 100}`,
        })),
      },
      {
        title: 'Queue wait and inference time (p95)',
        description:
          'Where the time goes: waiting in the queue for a worker, and inference (batch wait, run, encoding).',
        unit: 's',
        queries: [
          {
            expr: quantile(0.95, 'conveyor_job_queue_wait_seconds'),
            legend: `${byVersion} queue wait`,
          },
          {
            expr: quantile(0.95, 'conveyor_job_inference_seconds'),
            legend: `${byVersion} inference`,
          },
        ],
      },
      {
        title: 'Failure ratio',
        description:
          'Failed over finished jobs, over 5 minutes (recording rule; alert ConveyorFailureRatioHigh above 5%).',
        unit: 'percentunit',
        queries: [
          {
            expr: `model_version:conveyor_jobs_failed:ratio_rate5m{${M}}`,
            legend: byVersion,
          },
        ],
      },
      {
        title: 'Batch size',
        description: 'Mean rows per onnxruntime call: the batches the workers form.',
        unit: 'short',
        queries: [
          {
            expr: `sum by (model, version) (rate(conveyor_batch_rows_sum{${M}}[${RATE}])) / sum by (model, version) (rate(conveyor_batch_rows_count{${M}}[${RATE}]))`,
            legend: byVersion,
          },
        ],
      },
    ],
  },
  {
    title: 'Queues',
    panels: [
      {
        title: 'Queue depth by state',
        description: 'Jobs in each queue by state (waiting, prioritized, delayed, active, failed).',
        unit: 'short',
        queries: [
          {
            expr: `max by (model, version, state) (conveyor_queue_jobs{${M}})`,
            legend: `${byVersion} {{state}}`,
          },
        ],
      },
      {
        title: 'Backlog',
        description:
          'Seconds of work waiting: waiting jobs times the recent service time, over live workers. +Inf while jobs wait and no worker serves them.',
        unit: 's',
        queries: [
          {
            expr: `max by (model, version) (conveyor_queue_backlog_seconds{${M}})`,
            legend: byVersion,
          },
        ],
      },
      {
        title: 'Oldest waiting job',
        description: 'How long the oldest waiting job of each queue has waited.',
        unit: 's',
        queries: [
          {
            expr: `max by (model, version) (conveyor_queue_oldest_waiting_seconds{${M}})`,
            legend: byVersion,
          },
        ],
      },
      {
        title: 'Live workers per version',
        description:
          'Workers consuming each queue and beating (counted by the producer from Redis).',
        unit: 'short',
        queries: [
          {
            expr: `max by (model, version) (conveyor_queue_workers{${M}})`,
            legend: byVersion,
          },
        ],
      },
    ],
  },
  {
    title: 'Workers',
    panels: [
      {
        title: 'Workers scraped',
        description: 'Worker processes Prometheus reaches (up), and those that do not answer.',
        unit: 'short',
        type: 'stat',
        queries: [
          { expr: 'sum(up{job="conveyor-worker"} == bool 1)', legend: 'up' },
          { expr: 'sum(up{job="conveyor-worker"} == bool 0)', legend: 'down' },
        ],
      },
      {
        title: 'Inference thread utilisation',
        description:
          'Time onnxruntime ran jobs over the threads that run them (a tiny model runs on the main thread: one).',
        unit: 'percentunit',
        queries: [
          {
            expr: `sum by (model, version) (rate(conveyor_inference_busy_seconds_total{${M}}[${RATE}])) / sum by (model, version) (clamp_min(conveyor_inference_threads{${M}}, 1))`,
            legend: byVersion,
          },
        ],
      },
      {
        title: 'Jobs in flight',
        description: 'Jobs the workers have taken and not yet finished.',
        unit: 'short',
        queries: [
          {
            expr: `sum by (model, version) (conveyor_jobs_active{${M}})`,
            legend: byVersion,
          },
        ],
      },
      {
        title: 'Model versions by state',
        description:
          'Workers holding each version, by state (loading, ready, degraded, draining, failed).',
        unit: 'short',
        queries: [
          {
            expr: `sum by (model, version, state) (conveyor_model_versions{${M}})`,
            legend: `${byVersion} {{state}}`,
          },
        ],
      },
      {
        title: 'Event-loop delay (p99)',
        description: 'Per worker; growth holds up its Redis traffic and lock renewals.',
        unit: 's',
        queries: [
          {
            expr: 'max by (instance) (nodejs_eventloop_lag_p99_seconds{job="conveyor-worker"})',
            legend: '{{instance}}',
          },
        ],
      },
      {
        title: 'Redis answers',
        description: '1 while Redis answers the worker’s health beats.',
        unit: 'short',
        queries: [{ expr: 'min by (instance) (conveyor_redis_up)', legend: '{{instance}}' }],
      },
      {
        title: 'Resident memory',
        description: 'Resident memory of each producer and worker process.',
        unit: 'bytes',
        wide: true,
        queries: [
          {
            expr: 'max by (job, instance) (process_resident_memory_bytes{job=~"conveyor-.*"})',
            legend: '{{job}} {{instance}}',
          },
        ],
      },
    ],
  },
  {
    title: 'Producer',
    panels: [
      {
        title: 'Requests by route and status',
        description: 'HTTP requests the producers answered.',
        unit: 'reqps',
        queries: [
          {
            expr: `sum by (route, status) (rate(conveyor_http_requests_total{${M}}[${RATE}]))`,
            legend: '{{route}} {{status}}',
          },
        ],
      },
      {
        title: 'Acceptance latency (p99)',
        description: 'Time the producers took to answer, by route.',
        unit: 's',
        queries: [
          {
            expr: quantile(0.99, 'conveyor_http_request_duration_seconds', 'route'),
            legend: '{{route}}',
          },
        ],
      },
      {
        title: 'Refusals by reason',
        description:
          'Requests refused: queue_full (429), rate_limited (429), too_large (413), unauthorized (401), forbidden (403).',
        unit: 'reqps',
        wide: true,
        queries: [
          {
            expr: `sum by (reason) (rate(conveyor_http_refusals_total[${RATE}]))`,
            legend: '{{reason}}',
          },
        ],
      },
    ],
  },
];

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
const PANEL_HEIGHT = 8;

function panelJson(spec: PanelSpec, id: number, x: number, y: number): Record<string, unknown> {
  const type = spec.type ?? 'timeseries';
  return {
    id,
    type,
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    gridPos: { h: PANEL_HEIGHT, w: spec.wide ? 24 : 12, x, y },
    fieldConfig: { defaults: { unit: spec.unit }, overrides: [] },
    options:
      type === 'stat'
        ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false } }
        : {
            legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
            tooltip: { mode: 'multi', sort: 'desc' },
          },
    targets: spec.queries.map((query, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: query.expr,
      legendFormat: query.legend,
    })),
  };
}

/** Every query of the dashboard, in panel order, with its panel's title. */
export function dashboardQueries(): { panel: string; query: PanelQuery }[] {
  return ROWS.flatMap((row) =>
    row.panels.flatMap((panel) => panel.queries.map((query) => ({ panel: panel.title, query }))),
  );
}

/** The dashboard as Grafana's JSON model (schema 39): rows of panels two to a line. */
export function conveyorDashboard(): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const row of ROWS) {
    panels.push({
      id: id++,
      type: 'row',
      title: row.title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
    });
    y += 1;
    let x = 0;
    for (const panel of row.panels) {
      if (x > 0 && (panel.wide || x + 12 > 24)) {
        x = 0;
        y += PANEL_HEIGHT;
      }
      panels.push(panelJson(panel, id++, x, y));
      x += panel.wide ? 24 : 12;
      if (x >= 24) {
        x = 0;
        y += PANEL_HEIGHT;
      }
    }
    if (x > 0) y += PANEL_HEIGHT;
  }
  return {
    uid: 'conveyor',
    title: 'Conveyor',
    description: 'Jobs, queues, workers and producers of Conveyor (docs/operations.md).',
    tags: ['conveyor'],
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    refresh: '30s',
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-1h', to: 'now' },
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          current: {},
          hide: 0,
        },
        {
          name: 'model',
          label: 'Model',
          type: 'query',
          datasource: DATASOURCE,
          query: { query: 'label_values(conveyor_jobs_total, model)', refId: 'model' },
          definition: 'label_values(conveyor_jobs_total, model)',
          refresh: 2,
          includeAll: true,
          multi: true,
          allValue: '.*',
          current: { text: ['All'], value: ['$__all'] },
          sort: 1,
          hide: 0,
        },
      ],
    },
    annotations: { list: [] },
    panels,
  };
}

/** The file's text, formatted by prettier as `pnpm lint` checks it. */
export async function dashboardJson(dashboard: Record<string, unknown>): Promise<string> {
  const options = await resolveConfig(DASHBOARD_FILE);
  return format(JSON.stringify(dashboard), { ...options, parser: 'json' });
}
