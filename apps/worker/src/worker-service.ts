import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Tracer } from '@opentelemetry/api';
import { createEngine, type Engine, type ServedModel } from '@conveyor/engine';
import {
  CLOSE_GRACE_MS,
  WORKER_BEAT_MS,
  workerBeatsKey,
  closeRedis,
  redactUrl,
  redisOptions,
  rescanChannel,
  settledWithin,
  throttledErrorLog,
  type Config,
  type Logger,
  batchWritesPerTurn,
  createRedisClient,
  configTarget,
  configTopology,
} from '@conveyor/shared';
import { startAnnouncing } from './announce.js';
import type { MetricsSource, WorkerMetrics } from './metrics.js';
import { createBlobStore } from './blob-store.js';
import { watchRedisHealth } from './redis-health.js';
import { adviseJobHashEncoding } from './redis-settings.js';
import { watchRepository, type RepositoryWatch } from './repository-watch.js';
import { announcementOf, createRollout, keyOf } from './rollout.js';
import { createPredictionLog } from './prediction-log.js';
import { createDriftObserver } from './drift-observer.js';
import { combineObservers, type PredictionObserver } from './prediction-observer.js';
import { createShadowGate } from './shadow-gate.js';
import { createShadowObserver } from './shadow-observer.js';
import { startVersionConsumer, type VersionConsumer } from './version-consumer.js';
import { versionStatuses, type VersionStatus } from './version-status.js';
import { createWorkerRegistry } from './worker-registry.js';

/** A running worker process: one BullMQ worker per model version, sharing one engine. */
export interface WorkerService {
  readonly engine: Engine;
  /** Model names whose versions this process serves now. */
  readonly models: readonly string[];
  /** This worker's id in the catalogue. */
  readonly id: string;
  /** Rescans the model repository now: loads versions that appeared, drains removed ones. */
  rescan(reason?: string): Promise<void>;
  /** False while Redis does not answer this worker's PINGs (down, or frozen with sockets open). */
  redisHealthy(): boolean;
  /** Since when (ms since the epoch) Redis has not answered; undefined while it answers. */
  redisDownSince(): number | undefined;
  /** Every model version this worker knows and its state: served, loading, draining or failed. */
  versions(): VersionStatus[];
  /** Ids of the jobs taken and not yet recorded as finished, by `model@version`. */
  activeJobs(): Record<string, string[]>;
  /**
   * Stops taking jobs, lets the jobs in flight finish, and closes the engine and every connection,
   * within SHUTDOWN_TIMEOUT_MS plus about a second for each connection whatever Redis does: jobs
   * still active then are left to BullMQ's stalled-job recovery, a connection that cannot QUIT is
   * dropped, and one warning names what was left unfinished.
   */
  close(): Promise<void>;
}

/**
 * Versions whose run takes less than this (ms) run on the worker's main thread, not on an
 * inference thread: for a tiny model the hop to a thread (structured clone both ways, two
 * messages, waking the thread) costs several times the run, and a run this short does not hold up
 * the event loop's Redis work. Measured on a fresh thread, iris's run (onnxruntime plus the
 * session's tensor wrapping) takes 0.09 to 0.3 ms on a busy 2-core machine, so 0.1 ms left it on
 * its thread about half the time, which cost the worker a third more CPU per job; the
 * smallest text model (sentiment, 0.3 ms and up) stays on its threads.
 */
export const WORKER_INLINE_BELOW_MS = 0.25;

/**
 * Loads the models and consumes their queues. With `metrics`, jobs and inference runs are recorded
 * on them, and their gauges read this service at each scrape.
 */
export async function startWorkerService(
  config: Config,
  log: Logger,
  options: {
    metrics?: WorkerMetrics | undefined;
    /** Traces each job with this tracer (see job-trace.ts); undefined traces nothing. */
    tracer?: Tracer | undefined;
    /** Time between beats, ms; WORKER_BEAT_MS unless a test needs it shorter. */
    beatMs?: number;
    /** Time the worker's record outlives its last beat, ms; WORKER_RECORD_TTL_MS by default. */
    recordTtlMs?: number;
  } = {},
): Promise<WorkerService> {
  const { metrics } = options;
  const engine = await createEngine({
    repository: config.MODEL_REPOSITORY,
    models: config.MODELS,
    threads: config.INFERENCE_THREADS,
    inlineBelowMs: WORKER_INLINE_BELOW_MS,
    maxTensorBytes: config.MAX_TENSOR_BYTES,
    logger: log,
    ...(metrics && { onRun: metrics.onRun }),
  });
  const connection = createRedisClient(
    configTarget(config),
    redisOptions('worker', 'conveyor-worker'),
  );
  connection.on('error', throttledErrorLog(log, 'redis connection error'));
  // The jobs of a batch finish together: their results reach Redis in one write.
  batchWritesPerTurn(connection);
  const id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  // What the registry's record reads, once the service has started (its first beats come before).
  const started: { source?: MetricsSource } = {};
  const registry = createWorkerRegistry({
    id,
    prefix: config.REDIS_KEY_PREFIX,
    source: () => started.source,
    ttlMs: options.recordTtlMs,
  });
  // The health check stamps this worker's beat, and writes its record with it: clients count it
  // as live while it beats.
  const health = watchRedisHealth({
    url: config.REDIS_URL,
    topology: configTopology(config),
    log,
    intervalMs: options.beatMs ?? WORKER_BEAT_MS,
    beat: { key: workerBeatsKey(config.REDIS_KEY_PREFIX), worker: id, record: registry },
  });
  log.info(
    { redis: redactUrl(config.REDIS_URL), prefix: config.REDIS_KEY_PREFIX },
    'connecting to redis',
  );
  // Advice only: never waited for, and never a reason not to start.
  void adviseJobHashEncoding(connection, log);
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
  const blobs = createBlobStore(connection, config.REDIS_KEY_PREFIX);
  // What watches completed jobs: the prediction log, shadow comparison, drift statistics.
  // One per process: copies of any version wait for live jobs of every version, and so do the
  // shadow meetings of live jobs.
  const gate = createShadowGate();
  const shadow = createShadowObserver({
    connection,
    prefix: config.REDIS_KEY_PREFIX,
    log,
    whenQuiet: (work) => gate.whenQuiet(work),
  });
  const observers: PredictionObserver[] = [shadow];
  observers.push(createPredictionLog({ connection, config, engine, log }));
  const drift = createDriftObserver({ connection, config, engine, log });
  observers.push(drift);
  const observer = combineObservers(observers, log);
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
      metrics,
      tracer: options.tracer,
      registry,
      observer,
      gate,
    });
    consumers.set(keyOf(name, version.entry.version), consumer);
  };
  for (const version of served()) await consume(version);

  const rollout = createRollout({ engine, config, log, announcer, consumers, consume });
  const watcher: RepositoryWatch = watchRepository({
    root: config.MODEL_REPOSITORY,
    intervalMs: config.MODEL_RESCAN_MS,
    log,
    rescan: () => rollout.rescan(),
  });
  const commands = await listenForRescans(config, log, () => watcher.trigger('command'));
  log.info(
    {
      worker: id,
      models: [...engine.models.keys()],
      versions: [...consumers.keys()],
      concurrency: Object.fromEntries([...consumers].map(([k, c]) => [k, c.concurrency])),
    },
    'worker ready',
  );

  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const activeJobs = () => activeJobsOf(consumers);
  const versions = () => versionStatuses(engine, rollout.phases());
  const source: MetricsSource = {
    versions,
    batching(model, version) {
      const stats = engine.batchStats(model, version);
      const best = stats.perSize.find((s) => s.size === stats.bestSize);
      return { targetRows: stats.bestSize, rowsPerSecond: best?.rowsPerSecond ?? 0 };
    },
    activeJobs: (model, version) => consumers.get(keyOf(model, version))?.activeJobs().length ?? 0,
    redisHealthy: () => health.healthy(),
  };
  started.source = source;
  registry.setState('ready');
  let closing: Promise<void> | undefined;
  metrics?.watch(() => (closing ? undefined : source));
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
    redisHealthy: () => health.healthy(),
    redisDownSince: () => health.downSince(),
    versions,
    activeJobs,
    close() {
      closing ??= (async () => {
        const timeoutMs = config.SHUTDOWN_TIMEOUT_MS;
        const deadline = Date.now() + timeoutMs;
        const left = () => deadline - Date.now();
        log.info({ timeoutMs }, 'worker stopping: finishing jobs in flight');
        registry.setState('draining');
        const unfinished: string[] = [];
        // A rescan under way may wait on Redis (announcing a version).
        if (!(await settledWithin(watcher.close(), left()))) unfinished.push('model rescan');
        commands.disconnect();
        const abandoned = await closeConsumers(consumers, left(), log);
        if (abandoned) unfinished.push('queues (their blocking connections dropped)');
        registry.setState('stopping');
        announcer.stop();
        const engineClosed = engine
          .close()
          .catch((err: unknown) => log.warn({ err }, 'could not close the engine'));
        if (!(await settledWithin(engineClosed, Math.max(left(), CLOSE_GRACE_MS))))
          unfinished.push('inference engine');
        // The last drift counts and shadow meetings, while Redis may still take them.
        await settledWithin(Promise.all([drift.close(), shadow.close()]), CLOSE_GRACE_MS);
        if (!(await closeRedis(connection, CLOSE_GRACE_MS)))
          unfinished.push('redis connection (dropped without QUIT)');
        // A clean stop takes the worker's record out of the registry at once.
        await health.retire();
        loop.disable();
        if (unfinished.length > 0)
          log.warn(
            { timeoutMs, activeJobs: abandoned ?? {}, unfinished, redisHealthy: health.healthy() },
            'worker shutdown incomplete',
          );
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

/** Ids of the jobs each consumer holds, by `model@version`; consumers holding none are left out. */
function activeJobsOf(consumers: ReadonlyMap<string, VersionConsumer>): Record<string, string[]> {
  const active: Record<string, string[]> = {};
  for (const [key, consumer] of consumers) {
    const ids = consumer.activeJobs();
    if (ids.length > 0) active[key] = ids;
  }
  return active;
}

/**
 * Lets the jobs in flight finish, and the queues close, within `timeoutMs`; past it, logs the jobs
 * still active, abandons them to stall recovery and returns them (undefined when all closed in
 * time). With Redis away the queues cannot close even when no job is active.
 */
async function closeConsumers(
  consumers: ReadonlyMap<string, VersionConsumer>,
  timeoutMs: number,
  log: Logger,
): Promise<Record<string, string[]> | undefined> {
  let abandoned = false;
  const closed = Promise.all(
    [...consumers.values()].map((c) =>
      c.close().catch((err: unknown) => {
        // Once abandoned, a close that fails late is the connection being dropped: expected.
        if (!abandoned)
          log.warn({ err, model: c.model, version: c.version }, 'could not close a queue');
      }),
    ),
  );
  if (await settledWithin(closed, timeoutMs)) return undefined;
  abandoned = true;
  const activeJobs = activeJobsOf(consumers);
  if (Object.keys(activeJobs).length > 0)
    log.warn(
      { activeJobs },
      'jobs still running at the shutdown deadline; BullMQ will hand them to another worker',
    );
  for (const consumer of consumers.values()) consumer.abandon();
  return activeJobs;
}

/** Subscribes to the rescan channel (the producer's upload route publishes on it). */
async function listenForRescans(config: Config, log: Logger, onCommand: () => void) {
  const subscriber = createRedisClient(
    configTarget(config),
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
