/**
 * The producer service started from a configuration it is given: `main.ts` (`pnpm producer`)
 * loads it from the environment, and `conveyor serve` builds it from its flags and the
 * environment. Nothing here reads `process.env`. The only module that calls `listen`.
 */
import { createClient, type QueueClient } from '@conveyor/sdk';
import {
  CLOSE_GRACE_MS,
  closeRedis,
  createLogger,
  exitOnSignals,
  isConveyorError,
  PRODUCER_COMMAND_TIMEOUT_MS,
  redactUrl,
  redisOptions,
  redisUnavailable,
  redisWithin,
  settledWithin,
  throttledErrorLog,
  waitForRedis,
  type Config,
  type Logger,
  createRedisClient,
  configTarget,
  configTopology,
  targetAddress,
} from '@conveyor/shared';
import { startTracing, traceIdMixin, type Tracing } from '@conveyor/telemetry';
import { buildApp, producerMetricsOf, type App } from './app.js';
import { clientOptionsFromConfig } from './client-options.js';
import type { GrpcServer } from './grpc/server.js';
import { createInferStats } from './oip/infer-stats.js';

// The readiness probe's PING fails within this, under the probe's own 1000 ms
// (plugins/health.ts), so the probe reports which Redis did not answer.
const PING_TIMEOUT_MS = 750;

/** A producer being started, or listening. */
export interface ProducerRun {
  /** Settles once the HTTP server listens; rejects when start-up fails or `stop` ends it. */
  readonly started: Promise<App>;
  /** Whether `stop` was called. */
  readonly stopping: boolean;
  /** The port of the gRPC API once it listens; undefined without GRPC_PORT. */
  readonly grpcPort: number | undefined;
  /**
   * Ends the wait for Redis, then closes the gRPC and HTTP servers, the queue client and the health
   * connection, each within SHUTDOWN_TIMEOUT_MS after the call at most. Idempotent; never rejects.
   */
  stop(): Promise<void>;
  /** What a shutdown that runs out of time leaves undone, for its log line. */
  unfinished(): Record<string, unknown>;
}

/**
 * Starts the producer with the given configuration: waits for Redis with capped backoff (one
 * warning per attempt), opens the queue client, then listens. Installs no signal handler and
 * never exits.
 */
export function runProducer(config: Config, log: Logger = producerLogger(config)): ProducerRun {
  const redisAt = targetAddress(configTarget(config));
  // A dedicated connection for the readiness probe, so a PING never queues behind job traffic.
  const pinger = createRedisClient(configTarget(config), {
    ...redisOptions('producer', 'conveyor-producer-health', { commandTimeoutMs: PING_TIMEOUT_MS }),
    lazyConnect: true,
  });
  pinger.on('error', throttledErrorLog(log, 'redis health connection error'));
  const aborting = new AbortController();
  let tracing: Tracing | undefined;
  let client: QueueClient | undefined;
  let app: App | undefined;
  let grpc: GrpcServer | undefined;
  /** The step of the shutdown under way, for the record of a process that exits before its end. */
  let closingStep: string | undefined;

  const started = (async () => {
    // Before the app is built: @fastify/otel and the SDK find the registered tracer provider.
    tracing = await startTracing(config, { service: 'conveyor-producer' });
    await waitForRedis(
      config.REDIS_URL,
      log,
      'conveyor-producer-probe',
      aborting.signal,
      configTopology(config),
    );
    client = await createClient(clientOptionsFromConfig(config, log));
    await redisWithin(pinger.connect(), 2 * PRODUCER_COMMAND_TIMEOUT_MS).catch((error: unknown) => {
      throw redisUnavailable(redisAt, error);
    });
    const inferStats = createInferStats();
    // One registry for HTTP and gRPC, served by the HTTP app at /metrics.
    const metrics = producerMetricsOf(client);
    app = buildApp(config, {
      client,
      logger: log,
      inferStats,
      metrics,
      redisPing: async () => {
        try {
          return (await pinger.ping()) === 'PONG';
        } catch (error) {
          throw redisUnavailable(redisAt, error, PING_TIMEOUT_MS);
        }
      },
    });
    await app.listen({
      host: config.PRODUCER_HOST,
      port: config.PRODUCER_PORT,
      backlog: config.PRODUCER_BACKLOG,
    });
    // The port bound: PRODUCER_PORT=0 lets the system choose one, which the ready line names.
    const bound = app.server.address();
    const port = typeof bound === 'object' && bound !== null ? bound.port : config.PRODUCER_PORT;
    if (config.GRPC_PORT !== undefined) {
      const http = app;
      // Loaded only when asked for: gRPC and protobuf add 4.5 MB to the heap of every producer.
      const { startGrpcServer } = await import('./grpc/server.js');
      grpc = await startGrpcServer({
        client,
        config,
        logger: log,
        checkBackPressure: (model) => http.checkBackPressure(model),
        stats: inferStats,
        onCall: (rpc, code, model) => metrics.grpcCall(rpc, code, model),
        redisPing: () => pinger.ping().then((reply) => reply === 'PONG'),
      });
    }
    log.info(
      {
        host: config.PRODUCER_HOST,
        port,
        ...(grpc && { grpcHost: config.GRPC_HOST ?? config.PRODUCER_HOST, grpcPort: grpc.port }),
        redis: redactUrl(config.REDIS_URL),
        prefix: config.REDIS_KEY_PREFIX,
      },
      'producer ready',
    );
    return app;
  })();
  started.catch(() => undefined);

  // Every step waits until SHUTDOWN_TIMEOUT_MS after the call at most (then CLOSE_GRACE_MS each):
  // with Redis away or frozen, a close can wait for ever. Whatever did not finish is logged.
  const stop = async () => {
    aborting.abort();
    const timeoutMs = config.SHUTDOWN_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const unfinished: string[] = [];
    const step = async (name: string, work: () => Promise<unknown> | undefined) => {
      closingStep = name;
      const done = work()?.catch((err: unknown) => log.warn({ err, step: name }, 'close failed'));
      const ms = Math.max(deadline - Date.now(), CLOSE_GRACE_MS);
      if (done && !(await settledWithin(done, ms))) unfinished.push(name);
    };
    await step('start-up', () => started.catch(() => undefined));
    // Calls under way may finish until the deadline; those still open then are cancelled.
    await step('grpc server (calls still open)', () =>
      grpc?.close(Math.max(deadline - Date.now(), CLOSE_GRACE_MS)),
    );
    await step('http server (requests still open)', () => app?.close());
    await step('queue client', () => client?.close());
    closingStep = 'redis health connection';
    if (!(await closeRedis(pinger, CLOSE_GRACE_MS)))
      unfinished.push('redis health connection (dropped without QUIT)');
    await step('tracing (exporting the last spans)', () => tracing?.shutdown());
    if (unfinished.length > 0) log.warn({ timeoutMs, unfinished }, 'producer shutdown incomplete');
    log.info('producer stopped');
  };
  let stopped: Promise<void> | undefined;
  return {
    started,
    get stopping() {
      return aborting.signal.aborted;
    },
    get grpcPort() {
      return grpc?.port;
    },
    stop: () => (stopped ??= stop()),
    unfinished: () => ({ step: closingStep ?? 'start-up' }),
  };
}

/**
 * Runs the producer as its process's one service, as `pnpm producer` and `conveyor serve` do:
 * SIGTERM or SIGINT close it gracefully (also during start-up) and exit 0; a failed start-up
 * (Redis failing again, the port taken) exits 1 after one clear line.
 */
export async function serveProducer(
  config: Config,
  log: Logger = producerLogger(config),
): Promise<void> {
  const run = runProducer(config, log);
  exitOnSignals(log, () => run.stop(), {
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    unfinished: () => run.unfinished(),
  });
  try {
    await run.started;
  } catch (err) {
    // Aborted by a signal: the signal's handler exits 0 once closed.
    if (run.stopping) return;
    log.fatal(
      {
        err,
        redis: redactUrl(config.REDIS_URL),
        host: config.PRODUCER_HOST,
        port: config.PRODUCER_PORT,
        code: isConveyorError(err) ? err.code : 'ERR_INTERNAL',
      },
      'producer failed to start',
    );
    await run.stop().catch(() => undefined);
    process.exit(1);
  }
}

function producerLogger(config: Config): Logger {
  return createLogger({
    level: config.LOG_LEVEL,
    format: config.LOG_FORMAT,
    component: 'producer',
    buffered: true,
    // Records logged while a traced request runs carry its trace id.
    ...(config.TRACING !== 'off' && { mixin: traceIdMixin }),
  });
}
