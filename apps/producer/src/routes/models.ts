import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ConveyorClient, ModelInfo } from '@conveyor/sdk';
import { ConveyorError, compareVersions, type TensorSpec } from '@conveyor/shared';
import {
  DTYPE_TO_OIP,
  ErrorBodySchema,
  ModelMetadataSchema,
  ModelParamsSchema,
  ModelReadySchema,
  ServerMetadataSchema,
  type ModelMetadata,
} from '../schemas.js';
import { PRODUCER_VERSION } from '../version.js';

export interface ModelRouteOptions {
  /** Reads the announced models and their worker counts. */
  client: Pick<ConveyorClient, 'models'>;
}

/** Protocol extensions the producer implements (Triton's names). */
export const SERVER_EXTENSIONS: readonly string[] = ['binary_tensor_data'];

/** The protocol's name for how Conveyor runs every model. */
export const PLATFORM = 'onnxruntime_onnx';

/** The announced versions of a model, oldest first, and the one a request names (default newest). */
async function lookUp(
  client: ModelRouteOptions['client'],
  name: string,
  version: string | undefined,
): Promise<{ versions: ModelInfo[]; chosen: ModelInfo }> {
  const versions = (await client.models())
    .filter((m) => m.name === name)
    .sort((a, b) => compareVersions(a.version, b.version));
  const newest = versions.at(-1);
  if (newest === undefined) {
    throw new ConveyorError(
      'ERR_MODEL_NOT_FOUND',
      `no worker has announced a model named "${name}"`,
      {
        details: { model: name },
      },
    );
  }
  if (version === undefined) return { versions, chosen: newest };
  const chosen = versions.find((m) => m.version === version);
  if (chosen === undefined) {
    throw new ConveyorError(
      'ERR_MODEL_VERSION_NOT_FOUND',
      `model "${name}" has no version ${version}; announced versions: ${versions.map((m) => m.version).join(', ')}`,
      { details: { model: name, version } },
    );
  }
  return { versions: [chosen], chosen };
}

const tensors = (specs: readonly TensorSpec[]) =>
  specs.map((spec) => ({
    name: spec.name,
    datatype: DTYPE_TO_OIP[spec.dtype],
    shape: [...spec.shape],
  }));

/**
 * Open Inference Protocol (v2) REST metadata: server metadata, model metadata and model
 * readiness, all from the model catalogue workers announce (`client.models()`).
 */
export const modelRoutes: FastifyPluginCallbackZod<ModelRouteOptions> = (app, { client }, done) => {
  app.get(
    '/v2',
    {
      schema: {
        summary: 'Server metadata',
        response: { 200: ServerMetadataSchema, 401: ErrorBodySchema },
      },
    },
    () => ({ name: 'conveyor', version: PRODUCER_VERSION, extensions: [...SERVER_EXTENSIONS] }),
  );

  const errors = {
    400: ErrorBodySchema,
    401: ErrorBodySchema,
    404: ErrorBodySchema,
    503: ErrorBodySchema,
  };

  for (const url of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get(
      url,
      {
        schema: {
          summary: 'Model metadata',
          params: ModelParamsSchema,
          response: { 200: ModelMetadataSchema, ...errors },
        },
      },
      async (request): Promise<ModelMetadata> => {
        const { name, version } = request.params;
        const { versions, chosen } = await lookUp(client, name, version);
        return {
          name,
          versions: versions.map((m) => m.version),
          platform: PLATFORM,
          inputs: tensors(chosen.inputs),
          outputs: tensors(chosen.outputs),
        };
      },
    );

    app.get(
      `${url}/ready`,
      {
        schema: {
          summary: 'Model readiness: 200 when a running worker serves the model, else 400',
          params: ModelParamsSchema,
          response: {
            200: ModelReadySchema,
            // 400 is "not ready", or a path that is not valid.
            400: z.union([ModelReadySchema, ErrorBodySchema]),
            401: ErrorBodySchema,
            404: ErrorBodySchema,
            503: ErrorBodySchema,
          },
        },
      },
      async (request, reply) => {
        const { name, version } = request.params;
        const { chosen } = await lookUp(client, name, version);
        if (chosen.workers > 0) return reply.code(200).send({ name, ready: true });
        return reply.code(400).send({
          name,
          ready: false,
          reason: 'no running worker consumes the queue of this model',
        });
      },
    );
  }

  done();
};
