import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { createEngine, type Engine, type ServedModel } from '@conveyor/engine';
import {
  redactUrl,
  redisOptions,
  rescanChannel,
  throttledErrorLog,
  type Config,
  type Logger,
} from '@conveyor/shared';
import { startAnnouncing } from './announce.js';
import type { BlobStore } from './processor.js';
import { watchRepository, type RepositoryWatch } from './repository-watch.js';
import { announcementOf, createRollout, keyOf } from './rollout.js';
import { startVersionConsumer, type VersionConsumer } from './version-consumer.js';

/** A running worker process: one BullMQ worker per model version, sharing one engine. */
export interface WorkerService {
  readonly engine: Engine;
  /** Model names whose versions this process serves now. */
  readonly models: readonly string[];
  /** This worker's id in the catalogue. */
  readonly id: string;
  /** Rescans the model repository now: loads versions that appeared, drains removed ones. */
  rescan(reason?: string): Promise<void>;
  /**
   * Stops taking jobs, lets the jobs in flight finish (at most SHUTDOWN_TIMEOUT_MS, then they are
   * abandoned to BullMQ's stalled-job recovery), and closes the engine and every connection.
   */
  close(): Promise<void>;
}

function blobStore(connection: Redis, prefix: string): BlobStore {
  return {
    prefix,
    async get(keys) {
      const pipeline = connection.pipeline();
      for (const key of keys) pipeline.getBuffer(key);
      const replies = await pipeline.exec();
      return (replies ?? []).map(([err, value]) => {
        if (err) throw err;
        return Buffer.isBuffer(value) ? value : null;
      });
    },
    async del(keys) {
      await connection.del(...keys);
    },
  };
}

export async function startWorkerService(config: Config, log: Logger): Promise<WorkerService> {
  const engine = await createEngine({
    repository: config.MODEL_REPOSITORY,
    models: config.MODELS,
    threads: config.INFERENCE_THREADS,
    maxTensorBytes: config.MAX_TENSOR_BYTES,
    logger: log,
  });
  const connection = new Redis(config.REDIS_URL, redisOptions('worker', 'conveyor-worker'));
  connection.on('error', throttledErrorLog(log, 'redis connection error'));
  log.info(
    { redis: redactUrl(config.REDIS_URL), prefix: config.REDIS_KEY_PREFIX },
    'connecting to redis',
  );
  const id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const served = () => [...engine.models.values()].flat();

  // Announce each model version (and keep announcing it) so clients can check requests before
  // enqueueing them; versions no worker has announced for MODEL_EXPIRY_MS are forgotten.
  const announcer = await startAnnouncing({
    connection,
    prefix: config.REDIS_KEY_PREFIX,
    worker: id,
    announcements: served().map(announcementOf),
    expiryMs: config.MODEL_EXPIRY_MS,
    log,
  });
  const blobs = blobStore(connection, config.REDIS_KEY_PREFIX);
  const consumers = new Map<string, VersionConsumer>();
  const consume = async (version: ServedModel) => {
    const { name } = version.entry;
    const consumer = await startVersionConsumer({
      engine,
      model: name,
      version: version.entry.version,
      connection,
      config,
      blobs,
      log,
    });
    consumers.set(keyOf(name, version.entry.version), consumer);
  };
  for (const version of served()) await consume(version);
  log.info(
    {
      worker: id,
      models: [...engine.models.keys()],
      versions: [...consumers.keys()],
      concurrency: Object.fromEntries([...consumers].map(([k, c]) => [k, c.concurrency])),
    },
    'worker ready',
  );

  const rollout = createRollout({ engine, config, log, announcer, consumers, consume });
  const watcher: RepositoryWatch = watchRepository({
    root: config.MODEL_REPOSITORY,
    intervalMs: config.MODEL_RESCAN_MS,
    log,
    rescan: () => rollout.rescan(),
  });
  const commands = await listenForRescans(config, log, () => watcher.trigger('command'));

  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let closing: Promise<void> | undefined;
  return {
    engine,
    id,
    get models() {
      return [...engine.models.keys()];
    },
    async rescan(reason = 'asked') {
      watcher.trigger(reason);
      await watcher.idle();
      await rollout.drained();
    },
    close() {
      closing ??= (async () => {
        log.info(
          { timeoutMs: config.SHUTDOWN_TIMEOUT_MS },
          'worker stopping: finishing jobs in flight',
        );
        await watcher.close();
        commands.disconnect();
        await closeConsumers([...consumers.values()], config.SHUTDOWN_TIMEOUT_MS, log);
        announcer.stop();
        await engine.close();
        await connection.quit().catch(() => connection.disconnect());
        loop.disable();
        const ms = (ns: number) => Math.round(ns / 1e4) / 100;
        // How long the event loop was ever kept from Redis traffic: inference must not show here.
        log.info(
          {
            eventLoopDelayMs: {
              p50: ms(loop.percentile(50)),
              p99: ms(loop.percentile(99)),
              max: ms(loop.max),
            },
          },
          'worker stopped',
        );
      })();
      return closing;
    },
  };
}

/** Lets the jobs in flight finish within the timeout, then abandons the rest to stall recovery. */
async function closeConsumers(
  consumers: readonly VersionConsumer[],
  timeoutMs: number,
  log: Logger,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const graceful = Promise.all(consumers.map((c) => c.close())).then(() => 'drained' as const);
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const outcome = await Promise.race([graceful, deadline]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    log.warn(
      'jobs still running at the shutdown deadline; BullMQ will hand them to another worker',
    );
    await Promise.all(consumers.map((c) => c.close(true)));
  }
}

/** Subscribes to the rescan channel (the producer's upload route publishes on it). */
async function listenForRescans(config: Config, log: Logger, onCommand: () => void) {
  const subscriber = new Redis(
    config.REDIS_URL,
    redisOptions('worker', 'conveyor-worker-commands'),
  );
  subscriber.on('error', throttledErrorLog(log, 'redis command connection error'));
  const channel = rescanChannel(config.REDIS_KEY_PREFIX);
  subscriber.on('message', (from: string) => {
    if (from === channel) onCommand();
  });
  await subscriber.subscribe(channel);
  return subscriber;
}
