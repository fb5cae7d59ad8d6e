/**
 * The worker service started from a configuration it is given: `main.ts` (`pnpm worker`) loads
 * it from the environment, and `conveyor worker` builds it from its flags and the environment.
 * Nothing here reads `process.env`.
 */
import {
  CLOSE_GRACE_MS,
  createLogger,
  exitAfterLogs,
  exitOnSignals,
  isConveyorError,
  settledWithin,
  waitForRedis,
  configTopology,
  type Config,
  type Logger,
} from '@conveyor/shared';
import { startTracing, type Tracing } from '@conveyor/telemetry';
import { startHealthServer, type HealthServer } from './health-server.js';
import { createWorkerMetrics } from './metrics.js';
import { checkModelsExist } from './model-names.js';
import { steadyHeapGrowth } from './heap-growth.js';
import { lowerPriority } from './priority.js';
import { startWorkerService, type WorkerService } from './worker-service.js';

/** A worker being started, or running. */
export interface WorkerRun {
  /** The service once its models are loaded; rejects when start-up fails or `stop` ends it. */
  readonly started: Promise<WorkerService>;
  /** Whether `stop` was called. */
  readonly stopping: boolean;
  /**
   * Ends the wait for Redis, waits for start-up to settle (SHUTDOWN_TIMEOUT_MS at most), then
   * closes the service: jobs in flight finish, the others stay queued. Idempotent.
   */
  stop(): Promise<void>;
  /** What a shutdown that runs out of time leaves undone, for its log line. */
  unfinished(): Record<string, unknown>;
  /** The port of the worker's HTTP server once it listens; undefined when WORKER_HTTP_PORT is 0. */
  httpPort(): number | undefined;
}

/**
 * Starts a worker with the given configuration: lowers the process's priority (WORKER_NICE)
 * before any inference thread starts, starts its HTTP server (WORKER_HTTP_PORT: metrics, liveness
 * and readiness, answering from the start), starts tracing (TRACING), waits for Redis with capped
 * backoff (one warning per attempt), then loads and serves the models. Installs no signal handler
 * and never exits.
 */
export function runWorker(config: Config, log: Logger = workerLogger(config)): WorkerRun {
  // Before any inference thread starts: they inherit it, and request handling on the host wins.
  lowerPriority(config.WORKER_NICE, log);
  steadyHeapGrowth();
  const aborting = new AbortController();
  let service: WorkerService | undefined;
  let http: HealthServer | undefined;
  const metrics = config.WORKER_HTTP_PORT > 0 ? createWorkerMetrics() : undefined;
  let tracing: Tracing | undefined;
  const started = (async () => {
    tracing = await startTracing(config, { service: 'conveyor-worker' });
    if (metrics)
      http = await startHealthServer({
        host: config.WORKER_HTTP_HOST,
        port: config.WORKER_HTTP_PORT,
        livenessMs: config.WORKER_HTTP_LIVENESS_MS,
        metrics,
        source: { service: () => service, stopping: () => aborting.signal.aborted },
        log,
      });
    try {
      await waitForRedis(
        config.REDIS_URL,
        log,
        'conveyor-worker-probe',
        aborting.signal,
        configTopology(config),
      );
      service = await startWorkerService(config, log, {
        metrics,
        tracer: tracing?.tracer('@conveyor/worker'),
      });
      return service;
    } catch (err) {
      await http?.close();
      throw err;
    }
  })();
  // The caller sees a failure through `started`; `stop` must not leave it unhandled either.
  started.catch(() => undefined);
  let stopped: Promise<void> | undefined;
  const stop = async () => {
    aborting.abort();
    // Start-up can wait on Redis (announcing the models) for as long as Redis is away.
    if (!(await settledWithin(started, config.SHUTDOWN_TIMEOUT_MS))) {
      log.warn(
        { timeoutMs: config.SHUTDOWN_TIMEOUT_MS, unfinished: ['start-up'] },
        'worker shutdown incomplete',
      );
      await http?.close();
      return;
    }
    const running = await started.catch((err: unknown) => {
      // A start-up the signal did not abort failed on its own: nothing of it is left to close.
      if (!(err instanceof Error && err.name === 'AbortError'))
        log.warn({ err }, 'worker start-up failed during shutdown');
    });
    await running?.close();
    // The spans of the last jobs are exported before the process ends, if the collector answers.
    const flushed = tracing?.shutdown().catch((err: unknown) => {
      log.warn({ err }, 'could not export the last spans');
    });
    if (flushed) await settledWithin(flushed, CLOSE_GRACE_MS);
    // Last: probes and scrapes see the shutdown (readiness answers 503) until the end.
    await http?.close();
  };
  return {
    started,
    get stopping() {
      return aborting.signal.aborted;
    },
    stop: () => (stopped ??= stop()),
    unfinished: () => ({ starting: service === undefined, activeJobs: service?.activeJobs() }),
    httpPort: () => http?.port,
  };
}

/**
 * Runs a worker as its process's one service, as `pnpm worker` and `conveyor worker` do:
 * SIGTERM or SIGINT stop it gracefully (also during start-up) and exit 0; SIGHUP rescans the model
 * repository; a failed start-up, or no model to serve, exits 1.
 */
export async function serveWorker(
  config: Config,
  log: Logger = workerLogger(config),
): Promise<void> {
  try {
    checkModelsExist(config);
  } catch (err) {
    // Before anything starts: a worker would otherwise say it is ready and serve nothing of it.
    log.fatal(
      { err, code: isConveyorError(err) ? err.code : 'ERR_INTERNAL' },
      'worker failed to start',
    );
    exitAfterLogs(log, 1);
    return;
  }
  const run = runWorker(config, log);
  exitOnSignals(log, () => run.stop(), {
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    unfinished: () => run.unfinished(),
  });
  try {
    const service = await run.started;
    if (service.models.length === 0) {
      log.fatal({ repository: config.MODEL_REPOSITORY }, 'no model can be served');
      await service.close();
      exitAfterLogs(log, 1);
      return;
    }
    // `kill -HUP` asks for a rescan of the model repository now (as file events and the periodic
    // rescan do).
    process.on('SIGHUP', () => void service.rescan('SIGHUP'));
  } catch (err) {
    // Aborted by a signal: the signal's handler exits 0 once closed.
    if (!run.stopping) {
      log.fatal(
        { err, code: isConveyorError(err) ? err.code : 'ERR_INTERNAL' },
        'worker failed to start',
      );
      exitAfterLogs(log, 1);
    }
  }
}

function workerLogger(config: Config): Logger {
  return createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT, component: 'worker' });
}
