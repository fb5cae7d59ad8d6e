import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import type { QueueClient } from '@conveyor/sdk';
import { ConveyorStatusSchema } from '@conveyor/shared';
import { ErrorBodySchema } from '../oip/schemas.js';

export interface StatusRouteOptions {
  client: Pick<QueueClient, 'status'>;
}

/**
 * `GET /v1/status` (scope `admin`): models, their versions' queues and backlog, live workers and
 * failures by code, as `client.status()` reads them from Redis now; the response is checked
 * against ConveyorStatusSchema.
 */
export const statusRoute: FastifyPluginCallbackZod<StatusRouteOptions> = (app, options, done) => {
  app.get(
    '/v1/status',
    {
      onRequest: app.requireScope('admin'),
      schema: {
        summary: 'Models, queues, backlog and live workers, read from Redis now',
        response: {
          200: ConveyorStatusSchema,
          401: ErrorBodySchema,
          403: ErrorBodySchema,
          503: ErrorBodySchema,
        },
      },
    },
    () => options.client.status(),
  );
  done();
};
