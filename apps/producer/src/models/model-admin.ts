import type { FastifyRequest } from 'fastify';
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import {
  createModelAdmin,
  findModelStatus,
  unservedWarnings,
  type ModelAdmin,
} from '@conveyor/sdk';
import {
  DEFAULT_ALIAS,
  describeTarget,
  type AliasChange,
  type Config,
  type Logger,
} from '@conveyor/shared';
import { clientOptionsFromConfig } from '../client-options.js';
import { ErrorBodySchema } from '../oip/schemas.js';
import {
  AdminModelParamsSchema,
  AliasChangedSchema,
  AliasParamsSchema,
  HistoryBodySchema,
  HistoryQuerySchema,
  ModelStatusBodySchema,
  PromoteBodySchema,
  RolloutBodySchema,
  SetAliasBodySchema,
  type AliasChanged,
} from './model-admin-schemas.js';
import { aliasView, changeBody, changedBy, statusBody } from './model-admin-views.js';
import { modelShadowRoutes } from './model-shadow.js';
import { modelUploadRoutes } from './model-upload.js';

export interface ModelAdminRouteOptions {
  config: Config;
  logger: Logger;
}

/** Alias changes GET /v1/models/{name} shows. */
const STATUS_HISTORY = 5;

const errors = {
  400: ErrorBodySchema,
  401: ErrorBodySchema,
  403: ErrorBodySchema,
  404: ErrorBodySchema,
  503: ErrorBodySchema,
};

type AdminApp = Parameters<FastifyPluginCallbackZod>[0];
type Admin = () => Promise<ModelAdmin>;

/** The admin connection to Redis, opened on first use (most producers never change an alias). */
function lazyAdmin(config: Config, logger: Logger): { get: Admin; close: () => Promise<void> } {
  let opening: Promise<ModelAdmin> | undefined;
  const get: Admin = () => {
    opening ??= createModelAdmin(clientOptionsFromConfig(config, logger)).catch((error) => {
      opening = undefined;
      throw error;
    });
    return opening;
  };
  const close = async (): Promise<void> => {
    const admin = await opening?.catch(() => undefined);
    await admin?.close();
  };
  return { get, close };
}

/** Logs an alias change and builds its answer, with a warning per version no worker serves. */
async function answer(
  request: FastifyRequest,
  admin: ModelAdmin,
  model: string,
  change: AliasChange,
): Promise<AliasChanged> {
  request.log.info(
    {
      model,
      alias: change.alias,
      action: change.action,
      by: change.by,
      to: change.to ? describeTarget(change.to) : null,
    },
    'alias changed',
  );
  return {
    name: model,
    alias: change.alias,
    target: change.to ? aliasView(change.to) : null,
    change: changeBody(change),
    warnings: unservedWarnings(model, change.to, await findModelStatus(admin, model)),
  };
}

/** Status and history: every key, of scope `infer` or above. */
function readRoutes(app: AdminApp, admin: Admin): void {
  app.get(
    '/v1/models/:name',
    {
      schema: {
        summary: 'Model status: versions, aliases, where unpinned traffic goes, recent changes',
        params: AdminModelParamsSchema,
        response: { 200: ModelStatusBodySchema, ...errors },
      },
    },
    async (request) => {
      const models = await admin();
      const { name } = request.params;
      const status = await models.status(name);
      return statusBody(status, await models.history(name, STATUS_HISTORY));
    },
  );

  app.get(
    '/v1/models/:name/history',
    {
      schema: {
        summary: "The model's alias changes, newest first",
        params: AdminModelParamsSchema,
        querystring: HistoryQuerySchema,
        response: { 200: HistoryBodySchema, ...errors },
      },
    },
    async (request) => {
      const { name } = request.params;
      const history = await (await admin()).history(name, request.query.limit);
      return { name, history: history.map(changeBody) };
    },
  );
}

/** Alias changes, rollouts, promotions and rollbacks: scope `admin`, recorded with the key's name. */
function changeRoutes(app: AdminApp, admin: Admin): void {
  const adminOnly = app.requireScope('admin');

  app.put(
    '/v1/models/:name/aliases/:alias',
    {
      onRequest: adminOnly,
      schema: {
        summary: 'Point an alias at one version or at several with weights',
        params: AliasParamsSchema,
        body: SetAliasBodySchema,
        response: { 200: AliasChangedSchema, ...errors },
      },
    },
    async (request) => {
      const { name, alias } = request.params;
      const body = request.body;
      const target = 'versions' in body ? body.versions : { [body.version]: 100 };
      const models = await admin();
      const by = changedBy(request);
      const change = await models.setAlias(name, alias, target, { action: 'set', by });
      return answer(request, models, name, change);
    },
  );

  app.delete(
    '/v1/models/:name/aliases/:alias',
    {
      onRequest: adminOnly,
      schema: {
        summary: 'Delete an alias',
        params: AliasParamsSchema,
        response: { 200: AliasChangedSchema, ...errors },
      },
    },
    async (request) => {
      const { name, alias } = request.params;
      const models = await admin();
      const change = await models.removeAlias(name, alias, { by: changedBy(request) });
      return answer(request, models, name, change);
    },
  );

  app.post(
    '/v1/models/:name/rollout',
    {
      onRequest: adminOnly,
      schema: {
        summary: `Send a percentage of ${DEFAULT_ALIAS}'s traffic to a version`,
        params: AdminModelParamsSchema,
        body: RolloutBodySchema,
        response: { 200: AliasChangedSchema, ...errors },
      },
    },
    async (request) => {
      const { name } = request.params;
      const { version, weight } = request.body;
      const models = await admin();
      const change = await models.rollout(name, version, weight, changedBy(request));
      return answer(request, models, name, change);
    },
  );

  app.post(
    '/v1/models/:name/promote',
    {
      onRequest: adminOnly,
      schema: {
        summary: `Send all of ${DEFAULT_ALIAS}'s traffic to a version (default its newest)`,
        params: AdminModelParamsSchema,
        body: PromoteBodySchema,
        response: { 200: AliasChangedSchema, ...errors },
      },
    },
    async (request) => {
      const { name } = request.params;
      const models = await admin();
      const change = await models.promote(name, request.body?.version, changedBy(request));
      return answer(request, models, name, change);
    },
  );

  app.post(
    '/v1/models/:name/rollback',
    {
      onRequest: adminOnly,
      schema: {
        summary: `Put ${DEFAULT_ALIAS} back where it was before its newest version was rolled out`,
        params: AdminModelParamsSchema,
        response: { 200: AliasChangedSchema, ...errors },
      },
    },
    async (request) => {
      const { name } = request.params;
      const models = await admin();
      const change = await models.rollback(name, changedBy(request));
      return answer(request, models, name, change);
    },
  );
}

/**
 * The model lifecycle under `/v1/models/{name}`: status and history need the `infer` scope;
 * alias changes, rollouts and uploads need `admin` and are recorded with the key's name. Every
 * change goes through the SDK's ModelAdmin, the one writer of aliases.
 */
export const modelAdminRoutes: FastifyPluginCallbackZod<ModelAdminRouteOptions> = (
  app,
  { config, logger },
  done,
) => {
  const admin = lazyAdmin(config, logger);
  app.addHook('onClose', () => admin.close());
  readRoutes(app, admin.get);
  changeRoutes(app, admin.get);
  void app.register(modelUploadRoutes, { config, admin: admin.get });
  void app.register(modelShadowRoutes, { admin: admin.get });
  done();
};
