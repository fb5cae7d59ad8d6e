import type { FastifyRequest } from 'fastify';
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { findModelStatus, pinProductionBeforePublish, type ModelAdmin } from '@conveyor/sdk';
import { ConveyorError, DEFAULT_ALIAS, type Config } from '@conveyor/shared';
import { ErrorBodySchema } from '../oip/schemas.js';
import {
  AdminModelParamsSchema,
  UploadBodySchema,
  UploadQuerySchema,
  VersionPublishedSchema,
  type VersionPublished,
} from './model-admin-schemas.js';
import { aliasView, changedBy, tensorsOf } from './model-admin-views.js';

export interface ModelUploadOptions {
  config: Config;
  /** The admin connection, for the production pin and the rescan request. */
  admin: () => Promise<ModelAdmin>;
}

const ONNX = 'application/octet-stream';

/** Refuses a body whose declared length is over the limit before a byte of it is read. */
function declaredSize(limit: number) {
  return (request: FastifyRequest, _reply: unknown, next: (error?: Error) => void): void => {
    const length = Number(request.headers['content-length']);
    if (!Number.isFinite(length) || length <= limit) return next();
    next(
      new ConveyorError(
        'ERR_PAYLOAD_TOO_LARGE',
        `the model file is ${length} bytes, over the limit of ${limit} bytes (MAX_MODEL_UPLOAD_BYTES)`,
        { details: { limit } },
      ),
    );
  };
}

/**
 * `POST /v1/models/{name}/versions`: an ONNX file as the raw body, published into the model
 * repository this producer shares with the workers (MODEL_REPOSITORY), then announced to them on
 * the rescan channel. Its own content-type parser reads the body as a stream, with its own limit
 * (MAX_MODEL_UPLOAD_BYTES) instead of MAX_BODY_BYTES.
 */
export const modelUploadRoutes: FastifyPluginCallbackZod<ModelUploadOptions> = (
  app,
  { config, admin },
  done,
) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(ONNX, (_request, payload, parsed) => parsed(null, payload));
  app.addContentTypeParser('*', (request, _payload, parsed) =>
    parsed(
      new ConveyorError(
        'ERR_UNSUPPORTED_MEDIA_TYPE',
        `content type ${request.headers['content-type'] ?? '(none)'} is not read here; send the ONNX file with content-type: ${ONNX}`,
      ),
      undefined,
    ),
  );

  app.post(
    '/v1/models/:name/versions',
    {
      onRequest: [app.requireScope('admin'), declaredSize(config.MAX_MODEL_UPLOAD_BYTES)],
      schema: {
        summary: 'Publish a new version of a model from its ONNX file',
        consumes: [ONNX],
        params: AdminModelParamsSchema,
        querystring: UploadQuerySchema,
        body: UploadBodySchema,
        response: {
          201: VersionPublishedSchema,
          ...Object.fromEntries(
            [400, 401, 403, 404, 409, 413, 415, 500, 503].map((s) => [s, ErrorBodySchema]),
          ),
        },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const models = await admin();
      const before = await findModelStatus(models, name);
      // Loaded on the first upload: the engine brings onnxruntime and sharp's native libraries,
      // which a producer that only queues jobs never needs.
      const { stageModelVersion } = await import('@conveyor/engine');
      const staged = await stageModelVersion({
        repository: config.MODEL_REPOSITORY,
        name,
        version: request.query.version,
        model: request.body,
        taken: before?.versions.map((v) => v.version) ?? [],
        maxBytes: config.MAX_MODEL_UPLOAD_BYTES,
      });
      const by = changedBy(request);
      // Production is pinned before workers can see the version, or it could take unpinned traffic.
      const pin = await staged.commit(() =>
        pinProductionBeforePublish(models, name, staged.version, staged.existing, by),
      );
      const notified = await models.requestRescan();
      const production = pin?.to ?? before?.aliases[DEFAULT_ALIAS];
      request.log.info(
        { model: name, version: staged.version, by, pinned: pin !== undefined, notified },
        'model version published',
      );
      const body: VersionPublished = {
        name,
        version: staged.version,
        path: `${name}/${staged.version}/model.onnx`,
        inputs: tensorsOf(staged.signature.inputs),
        outputs: tensorsOf(staged.signature.outputs),
        production: production ? aliasView(production) : null,
        pinned: pin !== undefined,
        notified,
        warnings:
          notified > 0
            ? []
            : [
                'no worker listens for rescan requests on this prefix: workers load the version at their next periodic rescan (MODEL_RESCAN_MS) or start',
              ],
      };
      return reply.code(201).send(body);
    },
  );
  done();
};
