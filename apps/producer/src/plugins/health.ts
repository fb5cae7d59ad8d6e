import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { isConveyorError } from '@conveyor/shared';
import { LiveResponseSchema, NotReadyResponseSchema, ReadyResponseSchema } from '../oip/schemas.js';

export interface HealthOptions {
  /**
   * True when Redis answers PING. May reject with an ERR_QUEUE_UNAVAILABLE whose message names the
   * Redis and what to check; that message becomes the reason of a 503.
   */
  redisPing: () => Promise<boolean>;
  /** How long the check may take before it counts as failed, in ms. Default 1000. */
  checkTimeoutMs?: number;
}

/** Settles like `promise`, or resolves `undefined` after `ms`, so a hung check cannot hang a probe. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Why a PING failed, in words for an operator; undefined when Redis answered PONG. */
async function pingProblem(ping: () => Promise<boolean>): Promise<string | undefined> {
  try {
    return (await ping()) ? undefined : 'Redis answered PING with something other than PONG';
  } catch (error) {
    if (isConveyorError(error)) return error.message;
    return `Redis did not answer PING (${error instanceof Error ? error.message : String(error)})`;
  }
}

/**
 * Open Inference Protocol health routes. `live` answers while the process serves HTTP at all;
 * `ready` while Redis answers PING within the check timeout, that is while the producer can accept
 * work. Whether a model has a worker does not matter here: a model without one is reported by
 * `GET /v2/models/{name}/ready`, and its jobs wait in its queue meanwhile, so redeploying one
 * model's workers takes no producer out of a load balancer.
 */
export const health: FastifyPluginCallbackZod<HealthOptions> = (app, options, done) => {
  const timeoutMs = options.checkTimeoutMs ?? 1000;

  // Probes carry no API key: `security: []` says so in the OpenAPI document.
  app.get(
    '/v2/health/live',
    { schema: { summary: 'Liveness', security: [], response: { 200: LiveResponseSchema } } },
    () => ({ live: true as const }),
  );

  app.get(
    '/v2/health/ready',
    {
      schema: {
        summary: 'Readiness: 200 while Redis answers, so the producer can accept work',
        security: [],
        response: { 200: ReadyResponseSchema, 503: NotReadyResponseSchema },
      },
    },
    async (request, reply) => {
      const problem = await within(
        pingProblem(options.redisPing).then((reason) => reason ?? null),
        timeoutMs,
      );
      if (problem === null) return reply.code(200).send({ ready: true });
      const reason = problem ?? `Redis did not answer PING within ${timeoutMs} ms`;
      request.log.warn({ reason }, 'not ready');
      return reply.code(503).send({ ready: false, reason });
    },
  );

  done();
};
