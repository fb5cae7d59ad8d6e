import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { ConveyorStatus } from '@conveyor/sdk';
import { createStatusHistory, type StatusHistory, clientRedisOf } from '@conveyor/shared';
import { addConfigFlags, redisConfigFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { importSdk } from '../deferred-imports.js';
import { EXIT } from '../exit-codes.js';
import { table } from '../format.js';
import { line } from '../io.js';
import { positiveInt } from './predict.js';

const QUEUES_FLAGS: readonly ConfigFlag[] = ['redisUrl', 'prefix'];

interface QueuesFlags {
  watch?: boolean;
  interval: number;
  json?: boolean;
  redisUrl?: string;
  prefix?: string;
}

/** Seconds for a table cell: `-` for none, `∞` for a backlog no live worker will clear. */
const seconds = (value: number | null, none = '-'): string =>
  value === null ? none : value < 10 ? value.toFixed(3) : value.toFixed(1);

/** The newest point of a version's history column: rates need two reads, so `-` on the first. */
function latest(history: StatusHistory | undefined, model: string, version: string) {
  const column = history?.versions.find((v) => v.model === model && v.version === version);
  return { done: column?.completedPerSecond.at(-1) ?? null, p99: column?.p99.at(-1) ?? null };
}

const rate = (value: number | null): string => (value === null ? '-' : value.toFixed(1));

/**
 * The status as two tables: each version's queue, then the live workers. `history` (the same
 * derivation as the dashboard's, GET /v1/status/history) gives jobs done per second since the
 * read before, and the slowest live worker's end-to-end p99.
 */
export function renderStatus(status: ConveyorStatus, history?: StatusHistory): string {
  if (status.queues.length === 0) return 'no model announced: start a worker (conveyor worker)';
  const queues = table([
    [
      'model',
      'version',
      'workers',
      'waiting',
      'prioritized',
      'delayed',
      'active',
      'failed',
      'oldest-s',
      'backlog-s',
      'done/s',
      'p99-s',
    ],
    ...status.queues.map((q) => [
      q.model,
      q.version,
      String(q.workers),
      String(q.counts.waiting),
      String(q.counts.prioritized),
      String(q.counts.delayed),
      String(q.counts.active),
      String(q.counts.failed),
      seconds(q.oldestWaitingSeconds),
      // No figure while jobs wait: no live worker, or none has measured its service time yet.
      seconds(q.backlogSeconds, '?'),
      rate(latest(history, q.model, q.version).done),
      seconds(latest(history, q.model, q.version).p99),
    ]),
  ]);
  if (status.workers.length === 0) return `${queues}\n\nno live worker`;
  const workers = table([
    ['worker', 'host', 'pid', 'state', 'versions', 'in-flight'],
    ...status.workers.map((w) => [
      w.id,
      w.host,
      String(w.pid),
      w.state,
      w.versions.map((v) => `${v.model}@${v.version}:${v.state}`).join(',') || '-',
      String(w.versions.reduce((sum, v) => sum + v.jobsActive, 0)),
    ]),
  ]);
  return `${queues}\n\n${workers}`;
}

/** `conveyor queues [--watch]`: each version's queue, backlog and live workers, from client.status(). */
export function registerQueues(program: Command, ctx: CliContext): void {
  const command = program
    .command('queues')
    .description("show each model version's queue, backlog and the live workers")
    .option('-w, --watch', 'redraw until Ctrl-C')
    .option('--interval <ms>', 'time between redraws with --watch, in ms', positiveInt, 1000)
    .option('--json', 'print the status as JSON (one line per redraw with --watch)')
    .addHelpText(
      'after',
      `
Read from Redis as GET /v1/status answers it (docs/operations.md, "Worker registry and status").
"oldest-s" is the age of the longest-waiting job next in line; "backlog-s" is (waiting +
prioritized) x the workers' recent seconds per job / live workers: "?" while jobs wait and no
live worker serves the version. "done/s" is jobs completed per second since the read before
(with --watch; "-" on the first read), "p99-s" the slowest live worker's recent end-to-end p99.

Examples:
  conveyor queues
  conveyor queues --watch --interval 2000
  conveyor queues --json --redis-url redis://10.0.0.5:6379`,
    );
  addConfigFlags(command, QUEUES_FLAGS);
  command.action(async (flags: QueuesFlags) => {
    const { io } = ctx;
    const config = redisConfigFrom(ctx, flags, QUEUES_FLAGS);
    const { createClient } = await importSdk();
    const client = await createClient({
      ...clientRedisOf(config),
      prefix: config.REDIS_KEY_PREFIX,
      catalogueTtlMs: 0,
    });
    // Two reads are enough for a rate: the one before and this one.
    const history = createStatusHistory({ sampleMs: flags.interval, windowMs: flags.interval });
    let stop = false;
    const onSignal = () => {
      stop = true;
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      do {
        const status = await client.status();
        history.add(status);
        if (flags.json) {
          line(io.stdout, JSON.stringify(status));
        } else {
          if (flags.watch && io.stdout.isTTY) io.stdout.write('\x1b[2J\x1b[H');
          if (flags.watch) line(io.stdout, new Date(status.at).toISOString());
          line(io.stdout, renderStatus(status, history.view()));
        }
        if (flags.watch && !stop) {
          const until = Date.now() + flags.interval;
          while (!stop && Date.now() < until) await sleep(Math.min(100, until - Date.now()));
        }
      } while (flags.watch && !stop);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await client.close();
    }
    ctx.exitCode = EXIT.OK;
  });
}
