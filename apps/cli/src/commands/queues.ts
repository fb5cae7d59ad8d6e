import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Command } from 'commander';
import { createClient, type ConveyorClient, type ModelInfo } from '@conveyor/sdk';
import { compareVersions, queueName, redisOptions, type Config } from '@conveyor/shared';
import { addConfigFlags, redisConfigFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { table } from '../format.js';
import { line } from '../io.js';
import { positiveInt } from './predict.js';

const QUEUES_FLAGS: readonly ConfigFlag[] = ['redisUrl', 'prefix'];

const STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'] as const;

/** One model queue at one moment. */
export interface QueueSample {
  model: string;
  versions: string[];
  /** Worker processes consuming the queue now. */
  workers: number;
  counts: Record<(typeof STATES)[number], number>;
  /** Jobs completed per second over the last interval. */
  ratePerSecond: number;
}

interface Reading {
  at: number;
  counts: QueueSample['counts'];
  /** BullMQ's running count of completed jobs (0 when the workers do not record metrics). */
  metricCount: number;
}

interface QueuesFlags {
  watch?: boolean;
  interval: number;
  json?: boolean;
  redisUrl?: string;
  prefix?: string;
}

function createSampler(config: Config, client: ConveyorClient) {
  const connection = new Redis(config.REDIS_URL, redisOptions('producer', 'conveyor-cli-queues'));
  connection.on('error', () => undefined);
  const queues = new Map<string, Queue>();
  const queueFor = (model: string, version: string) => {
    const name = queueName(model, version);
    let queue = queues.get(name);
    if (!queue) {
      // Read-only: without skipMetasUpdate a Queue writes its own (default) event-stream cap
      // into the queue's metadata, undoing the workers' EVENTS_MAX_LEN.
      queue = new Queue(name, {
        connection,
        prefix: config.REDIS_KEY_PREFIX,
        skipMetasUpdate: true,
      });
      queue.on('error', () => undefined);
      queues.set(name, queue);
    }
    return queue;
  };
  /** A model's queues (one per version), added up. */
  const read = async (model: string, versions: readonly string[]): Promise<Reading> => {
    const parts = await Promise.all(
      versions.map((version) => {
        const queue = queueFor(model, version);
        return Promise.all([queue.getJobCounts(...STATES), queue.getMetrics('completed', 0, 0)]);
      }),
    );
    const sum = (of: (part: (typeof parts)[number]) => number) =>
      parts.reduce((total, part) => total + of(part), 0);
    return {
      at: Date.now(),
      counts: Object.fromEntries(
        STATES.map((s) => [s, sum(([counts]) => counts[s] ?? 0)]),
      ) as Reading['counts'],
      metricCount: sum(([, metrics]) => metrics.meta.count),
    };
  };
  return {
    /** Reads every model's queue now, and its rate since `previous` (or over `interval`). */
    async sample(previous: Map<string, Reading> | undefined, intervalMs: number) {
      const models: ModelInfo[] = await client.models();
      const byName = new Map<string, ModelInfo[]>();
      for (const m of models) byName.set(m.name, [...(byName.get(m.name) ?? []), m]);
      const names = [...byName.keys()].sort();
      const readAll = async () =>
        new Map(
          await Promise.all(
            names.map(
              async (n) =>
                [
                  n,
                  await read(
                    n,
                    (byName.get(n) ?? []).map((i) => i.version),
                  ),
                ] as const,
            ),
          ),
        );
      let before = previous;
      if (!before) {
        before = await readAll();
        await sleep(intervalMs);
      }
      const now = await readAll();
      const samples: QueueSample[] = names.map((name) => {
        const infos = byName.get(name) ?? [];
        const current = now.get(name) as Reading;
        const old = before.get(name);
        let rate = 0;
        if (old) {
          const seconds = Math.max((current.at - old.at) / 1000, 0.001);
          const done =
            current.metricCount > 0
              ? current.metricCount - old.metricCount
              : current.counts.completed - old.counts.completed;
          rate = Math.max(done, 0) / seconds;
        }
        return {
          model: name,
          versions: infos.map((i) => i.version).sort(compareVersions),
          workers: Math.max(0, ...infos.map((i) => i.workers)),
          counts: current.counts,
          ratePerSecond: Math.round(rate * 10) / 10,
        };
      });
      return { samples, readings: now };
    },
    async close() {
      await Promise.allSettled([...queues.values()].map((q) => q.close()));
      connection.disconnect();
    },
  };
}

function render(samples: readonly QueueSample[]): string {
  if (samples.length === 0) return 'no model announced: start a worker (conveyor worker)';
  return table([
    [
      'model',
      'versions',
      'workers',
      'waiting',
      'active',
      'delayed',
      'failed',
      'completed',
      'rate/s',
    ],
    ...samples.map((s) => [
      s.model,
      s.versions.join(','),
      String(s.workers),
      String(s.counts.waiting + s.counts.prioritized),
      String(s.counts.active),
      String(s.counts.delayed),
      String(s.counts.failed),
      String(s.counts.completed),
      s.ratePerSecond.toFixed(1),
    ]),
  ]);
}

/** `conveyor queues [--watch]`: depth, rate and live workers of every model's queue. */
export function registerQueues(program: Command, ctx: CliContext): void {
  const command = program
    .command('queues')
    .description("show each model queue's depth, completion rate and live workers")
    .option('-w, --watch', 'refresh until Ctrl-C')
    .option('--interval <ms>', 'sampling interval for the rate, in ms', positiveInt, 1000)
    .option('--json', 'print JSON (one line per sample with --watch)')
    .addHelpText(
      'after',
      `
Models come from the catalogue the workers announce. "waiting" includes prioritized jobs; the
rate is jobs completed per second over the interval (BullMQ's completed-job metrics when workers
record them, else the change of the completed count).

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
    const sampler = createSampler(config, client);
    let stop = false;
    const onSignal = () => {
      stop = true;
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      let readings: Awaited<ReturnType<typeof sampler.sample>>['readings'] | undefined;
      do {
        const result = await sampler.sample(readings, flags.interval);
        readings = result.readings;
        if (flags.json) {
          line(io.stdout, JSON.stringify({ at: new Date().toISOString(), queues: result.samples }));
        } else {
          if (flags.watch && io.stdout.isTTY) io.stdout.write('\x1b[2J\x1b[H');
          if (flags.watch) line(io.stdout, new Date().toISOString());
          line(io.stdout, render(result.samples));
        }
        if (flags.watch && !stop) {
          const until = Date.now() + flags.interval;
          while (!stop && Date.now() < until) await sleep(Math.min(100, until - Date.now()));
        }
      } while (flags.watch && !stop);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await sampler.close();
      await client.close();
    }
    ctx.exitCode = EXIT.OK;
  });
}
