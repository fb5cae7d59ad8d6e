import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import type { ConveyorClient } from '@conveyor/sdk';
import { LiveResponseSchema, NotReadyResponseSchema, ReadyResponseSchema } from '../schemas.js';

export interface HealthOptions {
  /** Reads the announced models. */
  client: Pick<ConveyorClient, 'models'>;
  /** True when Redis answers PING. */
  redisPing: () => Promise<boolean>;
  /** How long each readiness check may take before it counts as failed, in ms. Default 1000. */
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

/**
 * Open Inference Protocol health routes. `live` answers while the process serves HTTP at all;
 * `ready` only when Redis answers, some model is announced, and every announced model (a version a
 * worker announced within MODEL_EXPIRY_MS) has a running worker, so a load balancer sends no
 * traffic that could only wait.
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
        summary: 'Readiness',
        security: [],
        response: { 200: ReadyResponseSchema, 503: NotReadyResponseSchema },
      },
    },
    async (request, reply) => {
      const notReady = (reason: string) => {
        request.log.warn({ reason }, 'not ready');
        return reply.code(503).send({ ready: false, reason });
      };
      const pong = await within(
        options.redisPing().catch(() => false),
        timeoutMs,
      );
      if (pong !== true) return notReady('redis did not answer');
      const models = await within(
        options.client.models().catch(() => undefined),
        timeoutMs,
      );
      if (models === undefined) return notReady('the model catalogue could not be read from redis');
      if (models.length === 0) return notReady('no worker has announced a model');
      // Every model the catalogue claims (versions announced within MODEL_EXPIRY_MS) needs a worker
      // on a version that takes jobs; versions still loading or draining do not count either way.
      const serving = models.filter((m) => m.state === 'ready' || m.state === 'degraded');
      const busy = new Set(serving.filter((m) => m.workers > 0).map((m) => m.name));
      const idle = [...new Set(serving.map((m) => m.name))].filter((name) => !busy.has(name));
      if (idle.length > 0)
        return notReady(`no worker is running for ${idle.map((m) => `"${m}"`).join(', ')}`);
      return reply.code(200).send({ ready: true });
    },
  );

  done();
};
