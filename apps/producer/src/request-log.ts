import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * Fastify's per-request log lines, at debug: at the default level (info) a request that was
 * answered writes no line. A producer serving thousands of requests a second would otherwise write
 * as many JSON lines (fastify's default is two a request, at info); its /metrics counts them
 * instead, and the error handler still logs every refused or failed request (`request refused` at
 * info, `request failed` at warn or error). At LOG_LEVEL=debug, `incoming request` carries the
 * request (method, url, remote address) and `request completed` carries it again with its status
 * and time, written once the answer has gone out. `request errored` (the answer could not be
 * written) stays at error. Every other line (closed connections) is fastify's own.
 */
export class RequestLog extends LogController {
  override incomingRequest(request: FastifyRequest) {
    if (!this.isLogDisabled(request)) request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ) {
    if (this.isLogDisabled(request)) return;
    if (error) {
      reply.log.error(
        { req: request, res: reply, responseTime: reply.elapsedTime, err: error },
        'request errored',
      );
    } else
      reply.log.debug(
        { req: request, res: reply, responseTime: reply.elapsedTime },
        'request completed',
      );
  }
}
