import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyPluginCallback, FastifyRequest } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  isResponseSerializationError,
} from 'fastify-type-provider-zod';
import {
  ERROR_CATALOGUE,
  exposedDetails,
  isConveyorError,
  type ErrorCode,
  type ErrorIssue,
} from '@conveyor/shared';
import type { ErrorBody } from '../oip/schemas.js';

/** The response header that names the job a request enqueued. */
export const JOB_ID_HEADER = 'Conveyor-Job-Id';

interface Classified {
  code: ErrorCode;
  message: string;
  issues?: readonly ErrorIssue[];
  /** The details the catalogue lets the code show, bounded. */
  details?: Record<string, unknown>;
  jobId?: string;
  /** Response headers the code calls for (`WWW-Authenticate`, `Retry-After`). */
  headers?: Readonly<Record<string, string>>;
}

/** The headers HTTP wants with some statuses: RFC 6750 and 7617 for 401/403, RFC 9110 for 429. */
function headersFor(code: ErrorCode, details: Readonly<Record<string, unknown>>) {
  switch (code) {
    case 'ERR_UNAUTHORIZED':
      // A browser shows its log-in prompt for a Basic challenge: the dashboard can be opened
      // with the admin key's secret as the password.
      return {
        'WWW-Authenticate':
          details.needs === 'admin'
            ? 'Basic realm="conveyor dashboard", charset="UTF-8", Bearer realm="conveyor"'
            : 'Bearer realm="conveyor"',
      };
    case 'ERR_FORBIDDEN':
      return { 'WWW-Authenticate': 'Bearer realm="conveyor", error="insufficient_scope"' };
    case 'ERR_QUEUE_FULL':
    case 'ERR_RATE_LIMITED': {
      const seconds = details.retryAfterS;
      return { 'Retry-After': String(typeof seconds === 'number' ? Math.ceil(seconds) : 1) };
    }
    default:
      return undefined;
  }
}

/** Fastify's refusals about the HTTP exchange itself, by status; any other 4xx is ERR_VALIDATION. */
const PROTOCOL_CODES: ReadonlyMap<number, ErrorCode> = new Map([
  [404, 'ERR_ROUTE_NOT_FOUND'],
  [415, 'ERR_UNSUPPORTED_MEDIA_TYPE'],
]);

const internal = (reqId: string) =>
  `internal error; the producer log has the details under reqId ${reqId}`;

function fastifyCode(
  error: unknown,
): { code: string; statusCode: number; message: string } | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  if (typeof code !== 'string' || !code.startsWith('FST_') || typeof statusCode !== 'number')
    return undefined;
  return { code, statusCode, message: error.message };
}

/** Maps anything a route or fastify throws to a catalogue code, a safe message and issues. */
function classify(error: unknown, bodyLimit: number, reqId: string): Classified {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const context = (error as { validationContext?: string }).validationContext ?? 'request';
    const issues = error.validation.map((v) => ({
      path: [context, ...v.instancePath.split('/').filter(Boolean)].join('.'),
      message: v.message ?? 'is invalid',
    }));
    return {
      code: 'ERR_VALIDATION',
      message: `request ${context} is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    };
  }
  if (isConveyorError(error)) {
    const jobId = error.details.jobId;
    const headers = headersFor(error.code, error.details);
    const details = exposedDetails(error);
    return {
      code: error.code,
      // An ERR_INTERNAL message may hold anything (paths, library internals); it stays in the log.
      message: error.code === 'ERR_INTERNAL' ? internal(reqId) : error.message,
      ...(error.issues.length > 0 && { issues: error.issues }),
      ...(Object.keys(details).length > 0 && { details }),
      ...(typeof jobId === 'string' && { jobId }),
      ...(headers && { headers }),
    };
  }
  if (isResponseSerializationError(error))
    return { code: 'ERR_INTERNAL', message: internal(reqId) };
  const fastify = fastifyCode(error);
  if (fastify && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    if (fastify.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return {
        code: 'ERR_PAYLOAD_TOO_LARGE',
        message: `request body is over the limit of ${bodyLimit} bytes (MAX_BODY_BYTES)`,
      };
    }
    return {
      code: PROTOCOL_CODES.get(fastify.statusCode) ?? 'ERR_VALIDATION',
      message: fastify.message,
    };
  }
  return { code: 'ERR_INTERNAL', message: internal(reqId) };
}

/**
 * The one error body: `{ error, code, message, statusCode }`, plus `issues`, the exposed `details`
 * and `job_id` when known.
 */
export function errorBody(classified: Classified): ErrorBody {
  const statusCode = ERROR_CATALOGUE[classified.code].status;
  const body: ErrorBody = {
    error: classified.message,
    code: classified.code,
    message: classified.message,
    statusCode,
  };
  if (classified.issues)
    body.issues = classified.issues.map((i) => ({ path: i.path, message: i.message }));
  if (classified.details) body.details = classified.details as ErrorBody['details'];
  if (classified.jobId !== undefined) body.job_id = classified.jobId;
  return body;
}

/**
 * The body of the router's own refusals, for fastify's `frameworkErrors` option: a malformed
 * percent-encoding or a path parameter over maxParamLength would otherwise be answered before
 * any handler, with a body that has no catalogue code.
 */
export function frameworkErrorBody(error: Error): ErrorBody {
  return errorBody({ code: 'ERR_VALIDATION', message: `request URL is invalid: ${error.message}` });
}

/** The answers to requests the HTTP parser refused before fastify saw them (Node's own set). */
const CLIENT_ERRORS: ReadonlyMap<string | undefined, number> = new Map([
  ['HPE_HEADER_OVERFLOW', 431],
  ['ERR_HTTP_REQUEST_TIMEOUT', 408],
]);

/**
 * fastify's `clientErrorHandler`: answers a request the HTTP parser refused (431 for header fields
 * over the limit, 408, else 400) with `Connection: close`, and ends the connection after the
 * answer. fastify's default sends no `Connection: close` and resets the socket, so a keep-alive
 * client reused it for its next request and got ECONNRESET.
 */
export function clientErrorHandler(
  this: { log: FastifyBaseLogger },
  error: Error & { code?: string },
  socket: Duplex,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const status = CLIENT_ERRORS.get(error.code) ?? 400;
  this.log.info({ code: error.code, statusCode: status }, 'request refused by the HTTP parser');
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const reason = STATUS_CODES[status] ?? 'Bad Request';
  const body = JSON.stringify({ error: reason, message: reason, statusCode: status });
  // A client that keeps its half open does not keep the socket for long.
  const timer = setTimeout(() => socket.destroy(), 10_000).unref();
  socket.once('close', () => clearTimeout(timer));
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** True when the client of a request has hung up: no answer can reach it any more. */
const clientGone = (request: FastifyRequest): boolean =>
  (request.raw.socket as { destroyed?: boolean } | null)?.destroyed === true;

const plugin: FastifyPluginCallback = (app, _options, done) => {
  const bodyLimit = app.initialConfig.bodyLimit ?? 0;

  app.setErrorHandler((error: unknown, request, reply) => {
    const classified = classify(error, bodyLimit, request.id);
    const { code } = (error ?? {}) as { code?: unknown };
    // A client that hung up, mid-body (Node's `aborted`) or while its infer waited: nothing failed
    // for anyone to act on, and no answer can reach it. A bug of ours is still logged as one.
    if (clientGone(request) && (code === 'ECONNRESET' || classified.code !== 'ERR_INTERNAL')) {
      const logged = code === 'ECONNRESET' ? code : classified.code;
      request.log.info({ code: logged }, 'client closed the request');
      return reply.hijack();
    }
    const body = errorBody(classified);
    if (body.statusCode >= 500 && body.code === 'ERR_INTERNAL')
      request.log.error({ err: error }, 'request failed');
    else if (body.statusCode >= 500)
      request.log.warn({ code: body.code, jobId: body.job_id }, 'request failed');
    else request.log.info({ code: body.code, statusCode: body.statusCode }, 'request refused');
    if (body.job_id !== undefined) void reply.header(JOB_ID_HEADER, body.job_id);
    if (classified.headers) void reply.headers(classified.headers);
    return reply.code(body.statusCode).type('application/json; charset=utf-8').send(body);
  });

  app.setNotFoundHandler((request, reply) => {
    const body = errorBody({
      code: 'ERR_ROUTE_NOT_FOUND',
      message: `no route ${request.method} ${request.url}`,
    });
    return reply.code(body.statusCode).send(body);
  });

  done();
};

/**
 * Installs the error and not-found handlers on the instance it is registered on, not in a child
 * context: `skip-override` is what fastify-plugin sets, so every route registered later uses them.
 */
export const errorHandler: FastifyPluginCallback = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
});
