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
import { startAnnouncing, type Announcement, type Announcer } from './announce.js';
import type { BlobStore } from './processor.js';
import { watchRepository, type RepositoryWatch } from './repository-watch.js';
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

const keyOf = (model: string, version: string) => `${model}@${version}`;

const announcementOf = (served: ServedModel): Announcement => ({
  signature: served.signature,
  state: served.state,
  stateReason: served.stateReason,
});

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
    rescan: rollout.rescan,
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
    log.warn('jobs still running at the shutdown deadline; BullMQ will hand them to another worker');
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

/**
 * Applies what a rescan of the repository found: a new version is loaded, warmed up, consumed and
 * announced; a removed one is marked draining (clients stop sending it jobs), keeps running what
 * is queued for it for MODEL_DRAIN_MS and until its queue is empty (within
 * SHUTDOWN_TIMEOUT_MS more), then is taken out of the catalogue and unloaded.
 */
function createRollout(options: {
  engine: Engine;
  config: Config;
  log: Logger;
  announcer: Announcer;
  consumers: Map<string, VersionConsumer>;
  consume: (version: ServedModel) => Promise<void>;
}) {
  const { engine, config, log, announcer, consumers, consume } = options;
  const drains = new Set<Promise<void>>();
  const draining = new Set<string>();

  const drain = async (version: ServedModel) => {
    const { name, version: v } = version.entry;
    await announcer.set({ signature: version.signature, state: 'draining' });
    log.info({ model: name, version: v, drainMs: config.MODEL_DRAIN_MS }, 'version draining');
    const consumer = consumers.get(keyOf(name, v));
    const started = Date.now();
    const limit = config.MODEL_DRAIN_MS + config.SHUTDOWN_TIMEOUT_MS;
    for (;;) {
      const elapsed = Date.now() - started;
      const backlog = (await consumer?.backlog().catch(() => 0)) ?? 0;
      if ((elapsed >= config.MODEL_DRAIN_MS && backlog === 0) || elapsed >= limit) {
        if (backlog > 0)
          log.warn({ model: name, version: v, backlog }, 'version unloaded with jobs queued');
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await consumer?.close();
    consumers.delete(keyOf(name, v));
    await announcer.remove(name, v);
    await engine.unload(name, v);
    log.info({ model: name, version: v }, 'version unloaded');
  };

  return {
    async rescan() {
      const change = await engine.sync();
      for (const version of change.added) {
        await consume(version);
        await announcer.set(announcementOf(version));
        log.info(
          { model: version.entry.name, version: version.entry.version, state: version.state },
          'version loaded',
        );
      }
      for (const version of change.removed) {
        const key = keyOf(version.entry.name, version.entry.version);
        if (!consumers.has(key) || draining.has(key)) continue;
        draining.add(key);
        const running = drain(version).catch((err: unknown) =>
          log.error({ err, model: version.entry.name }, 'drain failed'),
        );
        drains.add(running);
        void running.finally(() => {
          drains.delete(running);
          draining.delete(key);
        });
      }
    },
    async drained() {
      await Promise.all([...drains]);
    },
  };
}
