/**
 * The worker's own small HTTP server (WORKER_HTTP_PORT): `/metrics` for Prometheus, `/livez` for
 * a liveness probe (restart a stuck worker), `/readyz` for a readiness probe (its models are
 * loaded and warmed up). Plain node:http: three read-only routes need no framework.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConveyorError, WORKER_BEAT_MS, type Logger } from '@conveyor/shared';
import { watchEventLoopLag } from './event-loop-lag.js';
import type { WorkerMetrics } from './metrics.js';
import { REDIS_PING_TIMEOUT_MS } from './redis-health.js';
import { serving, type VersionStatus } from './version-status.js';
import type { WorkerService } from './worker-service.js';

/** Longest a Redis that stopped answering can still pass: one beat interval, plus its timeout. */
export const REDIS_LIVENESS_BOUND_MS = WORKER_BEAT_MS + REDIS_PING_TIMEOUT_MS;

/** The running worker as the health server sees it. */
export interface HealthSource {
  /** The service once its models are loaded; undefined while the worker starts. */
  service(): WorkerService | undefined;
  /** Whether the worker is shutting down. */
  stopping(): boolean;
}

export interface HealthServer {
  /** The port it listens on. */
  readonly port: number;
  close(): Promise<void>;
}

interface Check {
  ok: boolean;
  [detail: string]: unknown;
}

interface Answer {
  status: number;
  body: unknown;
}

/** `/livez`: the event loop, the inference threads and Redis, each within its bound. */
async function liveness(source: HealthSource, lagMs: number, boundMs: number): Promise<Answer> {
  const service = source.service();
  const phase = source.stopping() ? 'stopping' : service ? undefined : 'starting';
  const eventLoop: Check = { ok: lagMs <= boundMs, worstLagMs: round(lagMs), boundMs };
  let threads: Check;
  let redis: Check;
  if (!service || phase) {
    // Nothing to ask yet (or any more): the threads come with the models, Redis with the service.
    threads = { ok: true, state: phase };
    redis = { ok: true, state: phase };
  } else {
    const pings = await service.engine.ping(boundMs);
    threads = {
      ok: pings.every((p) => p.answered),
      boundMs,
      versions: pings.map((p) => ({ ...p, ms: p.ms === undefined ? undefined : round(p.ms) })),
    };
    const since = service.redisDownSince();
    redis = {
      ok: service.redisHealthy(),
      state: since === undefined ? 'answering' : 'not answering',
      ...(since !== undefined && { downForMs: Date.now() - since }),
      boundMs: REDIS_LIVENESS_BOUND_MS,
    };
  }
  const ok = eventLoop.ok && threads.ok && redis.ok;
  return {
    status: ok ? 200 : 503,
    body: { status: ok ? 'ok' : 'failing', checks: { eventLoop, threads, redis } },
  };
}

/** `/readyz`: started, not stopping, and at least one version loaded and warmed up. */
function readiness(source: HealthSource): Answer {
  const service = source.service();
  const versions: VersionStatus[] = service?.versions() ?? [];
  const status = source.stopping()
    ? 'stopping'
    : !service
      ? 'starting'
      : versions.some((v) => serving(v.state))
        ? 'ready'
        : 'not ready';
  return { status: status === 'ready' ? 200 : 503, body: { status, versions } };
}

const round = (ms: number) => Math.round(ms * 100) / 100;

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

const sendJson = (res: ServerResponse, { status, body }: Answer) =>
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));

function sendError(res: ServerResponse, statusCode: number, error: string, message: string) {
  const code = statusCode === 404 ? 'ERR_ROUTE_NOT_FOUND' : 'ERR_INTERNAL';
  sendJson(res, { status: statusCode, body: { error, code, message, statusCode } });
}

/**
 * Listens on `host:port` (port 0: a free one) and answers the three routes. Throws
 * ERR_CONFIG_INVALID when the address cannot be listened on (a port taken, an unknown host).
 */
export async function startHealthServer(options: {
  host: string;
  port: number;
  /** WORKER_HTTP_LIVENESS_MS. */
  livenessMs: number;
  metrics: WorkerMetrics;
  source: HealthSource;
  log: Logger;
}): Promise<HealthServer> {
  const { host, livenessMs, metrics, source, log } = options;
  const lag = watchEventLoopLag();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendError(res, 405, 'Method Not Allowed', `${req.method ?? '?'} is not served here`);
      return;
    }
    switch (path) {
      case '/metrics':
        send(res, 200, metrics.registry.contentType, await metrics.registry.metrics());
        return;
      case '/livez':
        sendJson(res, await liveness(source, lag.worstMs(), livenessMs));
        return;
      case '/readyz':
        sendJson(res, readiness(source));
        return;
      default:
        sendError(res, 404, 'Not Found', `${path} is not a route: try /metrics, /livez or /readyz`);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.warn({ err, url: req.url }, 'health server could not answer');
      if (!res.headersSent) sendError(res, 500, 'Internal Server Error', 'could not answer');
      else res.destroy();
    });
  });
  // Probes and scrapes come every few seconds: keep no idle connection for long.
  server.keepAliveTimeout = 5000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    lag.close();
    throw new ConveyorError(
      'ERR_CONFIG_INVALID',
      `the worker's HTTP server cannot listen on ${host}:${options.port} (WORKER_HTTP_HOST, WORKER_HTTP_PORT): ${err instanceof Error ? err.message : String(err)}`,
      { cause: err, details: { host, port: options.port } },
    );
  }
  server.on('error', (err) => log.warn({ err }, 'health server error'));
  const { port } = server.address() as AddressInfo;
  log.info({ host, port, routes: ['/metrics', '/livez', '/readyz'] }, 'worker http listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        lag.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
