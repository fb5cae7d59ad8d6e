import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { unservedWarnings, type ModelAdmin } from '@conveyor/sdk';
import { ErrorBodySchema } from '../oip/schemas.js';
import {
  AdminModelParamsSchema,
  AliasChangedSchema,
  AliasParamsSchema,
  CompareQuerySchema,
  ComparisonsBodySchema,
  SetShadowBodySchema,
  type AliasChanged,
} from './model-admin-schemas.js';
import { aliasView, changeBody, changedBy } from './model-admin-views.js';

export interface ModelShadowRouteOptions {
  /** The admin connection, opened on first use. */
  admin: () => Promise<ModelAdmin>;
}

const errors = {
  400: ErrorBodySchema,
  401: ErrorBodySchema,
  403: ErrorBodySchema,
  404: ErrorBodySchema,
  503: ErrorBodySchema,
};

/** The answer to a shadow change: the alias's target now, the change, unserved versions. */
async function shadowAnswer(
  models: ModelAdmin,
  name: string,
  alias: string,
  change: Parameters<typeof changeBody>[0],
): Promise<AliasChanged> {
  const status = await models.status(name);
  const target = status.aliases[alias];
  const shadow = change.shadowTo;
  return {
    name,
    alias,
    target: target ? aliasView(target) : null,
    change: changeBody(change),
    warnings: unservedWarnings(name, shadow === undefined ? undefined : { [shadow]: 1 }, status),
  };
}

/**
 * Shadows and comparisons under `/v1/models/{name}`: setting or removing an alias's shadow needs
 * the `admin` scope (recorded in the alias history); reading the comparison reports needs `infer`.
 */
export const modelShadowRoutes: FastifyPluginCallbackZod<ModelShadowRouteOptions> = (
  app,
  { admin },
  done,
) => {
  const adminOnly = app.requireScope('admin');

  app.put(
    '/v1/models/:name/aliases/:alias/shadow',
    {
      onRequest: adminOnly,
      schema: {
        summary: "Copy an alias's traffic to a shadow version, compared and never returned",
        params: AliasParamsSchema,
        body: SetShadowBodySchema,
        response: { 200: AliasChangedSchema, ...errors },
      },
    },
    async (request) => {
      const { name, alias } = request.params;
      const models = await admin();
      const change = await models.setShadow(name, alias, request.body.version, changedBy(request));
      request.log.info({ model: name, alias, shadow: request.body.version }, 'shadow set');
      return shadowAnswer(models, name, alias, change);
    },
  );

  app.delete(
    '/v1/models/:name/aliases/:alias/shadow',
    {
      onRequest: adminOnly,
      schema: {
        summary: "Stop an alias's shadow",
        params: AliasParamsSchema,
        response: { 200: AliasChangedSchema, ...errors },
      },
    },
    async (request) => {
      const { name, alias } = request.params;
      const models = await admin();
      const change = await models.removeShadow(name, alias, changedBy(request));
      request.log.info({ model: name, alias }, 'shadow removed');
      return shadowAnswer(models, name, alias, change);
    },
  );

  app.get(
    '/v1/models/:name/comparisons',
    {
      schema: {
        summary: 'Shadow and replay comparisons of version pairs: agreement, differences, latency',
        params: AdminModelParamsSchema,
        querystring: CompareQuerySchema,
        response: { 200: ComparisonsBodySchema, ...errors },
      },
    },
    async (request) => {
      const { name } = request.params;
      const comparisons = await (await admin()).compare(name, request.query);
      return { name, comparisons };
    },
  );
  done();
};
