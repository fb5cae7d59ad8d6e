import { Counter, Histogram, type Registry } from 'prom-client';
import { ERROR_CATALOGUE, isConveyorError, isErrorCode } from '@conveyor/shared';

/** Seconds from 0.5 ms to 60 s: a 202 takes about a millisecond, a synchronous infer up to its wait. */
export const HTTP_SECONDS_BUCKETS = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]);

/** Why the producer refused a request, as `conveyor_http_refusals_total` counts it. */
export const REFUSAL_REASONS = [
  'queue_full',
  'rate_limited',
  'too_large',
  'unauthorized',
  'forbidden',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** fastify's code for a body over `bodyLimit`, which the error handler answers as 413. */
const FASTIFY_BODY_TOO_LARGE = 'FST_ERR_CTP_BODY_TOO_LARGE';

/**
 * The refusal reason of an error a request ended with, from its code (the error handler answers
 * it with the catalogue's status); undefined for every other error.
 */
export function refusalReason(error: unknown): RefusalReason | undefined {
  const code = isConveyorError(error)
    ? error.code
    : (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') return undefined;
  switch (code) {
    case 'ERR_QUEUE_FULL':
      return 'queue_full';
    case 'ERR_RATE_LIMITED':
      return 'rate_limited';
    case 'ERR_UNAUTHORIZED':
      return 'unauthorized';
    case 'ERR_FORBIDDEN':
      return 'forbidden';
    case FASTIFY_BODY_TOO_LARGE:
      return 'too_large';
    default:
      // ERR_PAYLOAD_TOO_LARGE, ERR_TENSOR_TOO_LARGE and any 413 added later.
      return isErrorCode(code) && ERROR_CATALOGUE[code].status === 413 ? 'too_large' : undefined;
  }
}

const METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
]);

/** A request's method as a label: the usual ones, else `other`. */
export const methodLabel = (method: string): string => (METHODS.has(method) ? method : 'other');

/** One finished HTTP request, with its labels already bounded. */
export interface HttpRequestRecord {
  method: string;
  /** The route pattern (`/v2/models/:name/infer`), `unmatched` for a 404 without route. */
  route: string;
  status: number;
  /** A catalogue model, `other`, or `''` when the route names none. */
  model: string;
  seconds: number;
  refusal: RefusalReason | undefined;
}

export interface HttpMetrics {
  record(request: HttpRequestRecord): void;
}

export function createHttpMetrics(registry: Registry): HttpMetrics {
  const registers = [registry];
  const requests = new Counter({
    name: 'conveyor_http_requests_total',
    help: 'HTTP requests the producer answered, by method, route pattern, status and model (a model the catalogue does not know is "other"; "" when the route names none).',
    labelNames: ['method', 'route', 'status', 'model'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'conveyor_http_request_duration_seconds',
    help: 'Time from a request arriving to its answer sent: the acceptance latency (the 202 of a job; the whole wait of a synchronous infer).',
    labelNames: ['method', 'route', 'model'] as const,
    buckets: [...HTTP_SECONDS_BUCKETS],
    registers,
  });
  const refusals = new Counter({
    name: 'conveyor_http_refusals_total',
    help: 'Requests refused by reason: queue_full (429, back-pressure), rate_limited (429), too_large (413), unauthorized (401), forbidden (403).',
    labelNames: ['reason'] as const,
    registers,
  });
  // Every reason is exported from the start, at 0, so that rate() sees the first refusal.
  for (const reason of REFUSAL_REASONS) refusals.labels(reason).inc(0);

  return {
    record({ method, route, status, model, seconds, refusal }) {
      requests.inc({ method, route, status: String(status), model });
      duration.observe({ method, route, model }, seconds);
      if (refusal !== undefined) refusals.inc({ reason: refusal });
    },
  };
}
