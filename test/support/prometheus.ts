import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../scripts/lib/redis-server.js';

const PROMETHEUS = '/usr/bin/prometheus';

/** One sample of an instant vector: its labels and its value. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

/** A Prometheus API answer: `success` with data, or `error` with its type and message. */
export interface PromAnswer {
  status: 'success' | 'error';
  data?: {
    resultType: string;
    result: { metric: Record<string, string>; value: [number, string] }[];
  };
  errorType?: string;
  error?: string;
}

/** A rule as `/api/v1/rules` reports it. */
export interface PromRule {
  name: string;
  query: string;
  type: 'alerting' | 'recording';
  health: 'ok' | 'err' | 'unknown';
  lastError?: string;
}

export interface PrometheusServer {
  readonly url: string;
  /** Runs an instant query; the answer as Prometheus gives it. */
  query(expr: string): Promise<PromAnswer>;
  /** Runs an instant query that must succeed, and returns its vector. */
  vector(expr: string): Promise<PromSample[]>;
  /** Every loaded rule with its health. */
  rules(): Promise<PromRule[]>;
  /** The last lines Prometheus logged, for a failure's message. */
  log(): string;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** Scrape jobs: name to `host:port` targets. */
  jobs: Record<string, string[]>;
  /** Rule files to load (absolute paths). */
  ruleFiles?: string[];
  /** Seconds between scrapes and between rule evaluations. Default 1. */
  intervalSeconds?: number;
}

/**
 * Starts Debian's Prometheus on a free loopback port with a scrape config written for `jobs`, and
 * waits until it is ready. Its storage is a temporary folder, removed by `stop`.
 */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  if (!existsSync(PROMETHEUS))
    throw new Error(`${PROMETHEUS} is missing: install it with apt-get install -y prometheus`);
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-prometheus-'));
  const interval = `${options.intervalSeconds ?? 1}s`;
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: Object.entries(options.jobs).map(([job, targets]) => ({
      job_name: job,
      static_configs: [{ targets }],
    })),
  };
  // JSON is YAML: Prometheus reads it as its config file.
  await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let lines: string[] = [];
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    lines = [...lines, ...chunk.split('\n').filter(Boolean)].slice(-30);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killed = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killed);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    return (await res.json()) as T;
  };
  const query = (expr: string) =>
    get<PromAnswer>(`/api/v1/query?query=${encodeURIComponent(expr)}`);

  try {
    const until = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error('prometheus exited');
      const ready = await fetch(`${url}/-/ready`).then(
        (res) => res.ok,
        () => false,
      );
      if (ready) break;
      if (Date.now() > until) throw new Error('prometheus not ready within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}:\n${lines.join('\n')}`);
  }

  return {
    url,
    query,
    async vector(expr) {
      const answer = await query(expr);
      if (answer.status !== 'success' || answer.data?.resultType !== 'vector')
        throw new Error(`${expr}: ${answer.errorType ?? answer.data?.resultType}: ${answer.error}`);
      return answer.data.result.map(({ metric, value }) => ({ metric, value: Number(value[1]) }));
    },
    async rules() {
      const answer = await get<{ data: { groups: { rules: PromRule[] }[] } }>('/api/v1/rules');
      return answer.data.groups.flatMap((group) => group.rules);
    },
    log: () => lines.join('\n'),
    stop,
  };
}
