import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { QueueClient } from '@conveyor/sdk';
import {
  DriftReportSchema,
  ModelNameSchema,
  ModelVersionSchema,
  WindowSchema,
  parseWindow,
} from '@conveyor/shared';
import { ErrorBodySchema } from '../oip/schemas.js';

export interface DriftRouteOptions {
  client: Pick<QueueClient, 'drift'>;
}

const DriftQuerySchema = z
  .object({
    /** The window ending now: `1h`, `15m`, `90s`... up to 24h. Default 1h. */
    window: WindowSchema.optional(),
    /** Only this version. */
    version: ModelVersionSchema.optional(),
  })
  .strict();

/**
 * `GET /v1/models/{name}/drift` (scope `infer`): the input drift of the model's versions that have
 * a baseline, as `client.drift()` reads it; a model without one has an empty `versions`.
 */
export const driftRoute: FastifyPluginCallbackZod<DriftRouteOptions> = (app, options, done) => {
  app.get(
    '/v1/models/:name/drift',
    {
      schema: {
        summary: 'Input drift per version and feature (PSI, Kolmogorov–Smirnov, chi-square)',
        params: z.object({ name: ModelNameSchema }).strict(),
        querystring: DriftQuerySchema,
        response: {
          200: DriftReportSchema,
          400: ErrorBodySchema,
          401: ErrorBodySchema,
          403: ErrorBodySchema,
          503: ErrorBodySchema,
        },
      },
    },
    (request) => {
      const { window, version } = request.query;
      const windowMs = window === undefined ? undefined : parseWindow(window);
      return options.client.drift(request.params.name, {
        ...(windowMs !== undefined && { windowMs }),
        ...(version !== undefined && { version }),
      });
    },
  );
  done();
};
