import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { createClient, type ConveyorStatus } from '@conveyor/sdk';
import { addConfigFlags, redisConfigFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
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

/** The status as two tables: each version's queue, then the live workers. */
export function renderStatus(status: ConveyorStatus): string {
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
live worker serves the version.

Examples:
  conveyor queues
  conveyor queues --watch --interval 2000
  conveyor queues --json --redis-url redis://10.0.0.5:6379`,
    );
  addConfigFlags(command, QUEUES_FLAGS);
  command.action(async (flags: QueuesFlags) => {
    const { io } = ctx;
    const config = redisConfigFrom(ctx, flags, QUEUES_FLAGS);
    const client = await createClient({
      redisUrl: config.REDIS_URL,
      prefix: config.REDIS_KEY_PREFIX,
      catalogueTtlMs: 0,
    });
    let stop = false;
    const onSignal = () => {
      stop = true;
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      do {
        const status = await client.status();
        if (flags.json) {
          line(io.stdout, JSON.stringify(status));
        } else {
          if (flags.watch && io.stdout.isTTY) io.stdout.write('\x1b[2J\x1b[H');
          if (flags.watch) line(io.stdout, new Date(status.at).toISOString());
          line(io.stdout, renderStatus(status));
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
