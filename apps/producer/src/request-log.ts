import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * Fastify's per-request log lines, one at info per request instead of two: `request completed`
 * (or `request errored`) carries the request (method, url, remote address), its status and its
 * time, and is written once the answer has gone out; `incoming request` is at debug. A synchronous
 * infer then writes to stdout once, after its answer, rather than once more before its handler
 * runs. Every other line (errors, closed connections) is fastify's own.
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
    const fields = { req: request, res: reply, responseTime: reply.elapsedTime };
    if (error) reply.log.error({ ...fields, err: error }, 'request errored');
    else reply.log.info(fields, 'request completed');
  }
}
