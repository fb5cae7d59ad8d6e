/**
 * The files of the compose profile `observability`: Prometheus's config and rules pass promtool
 * (and the rules' unit tests), the Grafana dashboard is what its generator writes and uses only
 * metrics Conveyor exports, and compose mounts what exists on loopback ports. The real Prometheus
 * scraping real processes is test/integration/prometheus.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  DASHBOARD_FILE,
  conveyorDashboard,
  dashboardJson,
} from '../scripts/lib/grafana-dashboard.js';
import {
  PROMETHEUS_DIR,
  RULES_FILE,
  knownMetricNames,
  metricNamesIn,
  runnableDashboardQueries,
} from './support/promql.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PROMTOOL = '/usr/bin/promtool';

function promtool(...args: string[]): { status: number | null; output: string } {
  if (!existsSync(PROMTOOL))
    throw new Error(`${PROMTOOL} is missing: install it with apt-get install -y prometheus`);
  const run = spawnSync(PROMTOOL, args, { cwd: root, encoding: 'utf8', timeout: 30_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

interface GridPos {
  h: number;
  w: number;
  x: number;
  y: number;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: GridPos;
  targets?: { refId: string; expr: string; datasource: { uid: string } }[];
}

describe('the shipped Prometheus files', () => {
  it('pass promtool check config, with the rules file it names', () => {
    const { status, output } = promtool('check', 'config', join(PROMETHEUS_DIR, 'prometheus.yml'));
    expect(output).toContain('SUCCESS: 1 rule files found');
    expect(status).toBe(0);
  });

  it('pass promtool check rules', () => {
    const { status, output } = promtool('check', 'rules', RULES_FILE);
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
    expect(status).toBe(0);
  });

  it('fire the alerts the rule unit tests expect, and no others', () => {
    const { status, output } = promtool(
      'test',
      'rules',
      join(PROMETHEUS_DIR, 'rules/conveyor.rules.test.yml'),
    );
    expect(output).toContain('SUCCESS');
    expect(status).toBe(0);
  });

  it('fail promtool test rules when an alert is changed', () => {
    // The unit tests can fail: the same tests against rules whose no-worker alert adds up the
    // duplicated gauges of two producers.
    const changed = readFileSync(RULES_FILE, 'utf8').replace(
      'max by (model, version, state) (conveyor_queue_jobs{state=~"waiting|prioritized"})',
      'sum by (model, version, state) (conveyor_queue_jobs{state=~"waiting|prioritized"})',
    );
    expect(changed).not.toBe(readFileSync(RULES_FILE, 'utf8'));
    const dir = execFileSync('mktemp', ['-d'], { encoding: 'utf8' }).trim();
    try {
      execFileSync('cp', [join(PROMETHEUS_DIR, 'rules/conveyor.rules.test.yml'), dir]);
      execFileSync('tee', [join(dir, 'conveyor.rules.yml')], { input: changed });
      const { status, output } = promtool('test', 'rules', join(dir, 'conveyor.rules.test.yml'));
      expect(status).toBe(1);
      expect(output).toContain('alertname: ConveyorNoWorker');
    } finally {
      execFileSync('rm', ['-r', dir]);
    }
  });

  it('use only metrics the producer and the workers export', async () => {
    const known = await knownMetricNames();
    const rules = readFileSync(RULES_FILE, 'utf8');
    // Each rule's expression: a one-line `expr:` or a block under `expr: |`.
    const exprs = [...rules.matchAll(/^ {8}expr: (?:\|\n((?: {10}.*\n)+)|(.+)\n)/gm)].map(
      ([, block, line]) => (block ?? line)!,
    );
    expect(exprs.length).toBeGreaterThanOrEqual(15);
    const unknown = exprs.flatMap((expr) => metricNamesIn(expr).filter((n) => !known.has(n)));
    expect(unknown).toEqual([]);
  });
});

describe('the Grafana dashboard', () => {
  it('is the file its generator writes (node --import tsx scripts/gen-grafana-dashboard.ts)', async () => {
    expect(readFileSync(DASHBOARD_FILE, 'utf8')).toBe(await dashboardJson(conveyorDashboard()));
  });

  it('is a dashboard of panels that each query the chosen Prometheus, laid out without overlap', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as {
      uid: string;
      panels: Panel[];
    };
    expect(dashboard.uid).toBe('conveyor');
    const { panels } = dashboard;
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    const cells = new Set<string>();
    for (const { title, gridPos, type, targets } of panels) {
      expect({ title, inside: gridPos.x + gridPos.w <= 24 }).toEqual({ title, inside: true });
      for (let x = gridPos.x; x < gridPos.x + gridPos.w; x++)
        for (let y = gridPos.y; y < gridPos.y + gridPos.h; y++) {
          expect({ title, cell: cells.has(`${x},${y}`) }).toEqual({ title, cell: false });
          cells.add(`${x},${y}`);
        }
      if (type === 'row') continue;
      expect({ title, targets: targets?.length ?? 0 }).not.toEqual({ title, targets: 0 });
      for (const target of targets ?? []) {
        expect(target.datasource.uid).toBe('${datasource}');
        expect(target.expr).not.toBe('');
      }
    }
    // Throughput, latency, queue depth, backlog, oldest wait, failures, batch size, threads, workers.
    expect(panels.map((p) => p.title)).toEqual(
      expect.arrayContaining([
        'Throughput',
        'End-to-end latency',
        'Queue depth by state',
        'Backlog',
        'Oldest waiting job',
        'Failures by code',
        'Batch size',
        'Inference thread utilisation',
        'Live workers per version',
        'Workers scraped',
      ]),
    );
  });

  it('uses only metrics the producer and the workers export, or the rules record', async () => {
    const known = await knownMetricNames();
    const queries = runnableDashboardQueries();
    expect(queries.length).toBeGreaterThan(20);
    for (const { panel, expr } of queries) {
      const names = metricNamesIn(expr);
      expect({ panel, names: names.length > 0 }).toEqual({ panel, names: true });
      expect({ panel, unknown: names.filter((n) => !known.has(n)) }).toEqual({
        panel,
        unknown: [],
      });
    }
  });

  it('has provisioning that points Grafana at the compose Prometheus and the dashboards folder', () => {
    const datasource = readFileSync(
      join(root, 'deploy/grafana/provisioning/datasources/prometheus.yml'),
      'utf8',
    );
    expect(datasource).toContain('url: http://prometheus:9090');
    expect(datasource).toContain('type: prometheus');
    const provider = readFileSync(
      join(root, 'deploy/grafana/provisioning/dashboards/conveyor.yml'),
      'utf8',
    );
    expect(provider).toContain('path: /etc/grafana/dashboards');
  });
});

/** Debian's docker-compose checks the file without an engine; CI installs it, so CI never skips. */
const hasCompose =
  process.env.CI === 'true' ||
  spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0;

describe.runIf(hasCompose)('the compose profile observability (docker-compose config)', () => {
  it('adds Prometheus and Grafana on loopback ports, mounting files that exist', () => {
    const config = execFileSync('docker-compose', ['--profile', 'observability', 'config'], {
      cwd: root,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(config).toContain('image: prom/prometheus:');
    expect(config).toContain('image: grafana/grafana:');
    expect(config).toContain('- 127.0.0.1:9090:9090/tcp');
    expect(config).toContain('- 127.0.0.1:3000:3000/tcp');
    const binds = [...config.matchAll(/^ {4}- (\/[^:]+):[^:]+:ro$/gm)].map(([, path]) => path!);
    expect(binds).toEqual(
      expect.arrayContaining([
        join(root, 'deploy/prometheus'),
        join(root, 'deploy/prometheus/producer.token'),
        join(root, 'deploy/grafana/provisioning'),
        join(root, 'deploy/grafana/dashboards'),
      ]),
    );
    for (const path of binds)
      expect({ path, exists: existsSync(path) }).toEqual({ path, exists: true });
  });
});
