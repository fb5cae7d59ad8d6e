import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ConveyorClient, ModelInfo, QueueClient } from '@conveyor/sdk';
import {
  ConveyorError,
  DEFAULT_ALIAS,
  ModelVersionSchema,
  compareVersions,
  type AliasTarget,
  type TensorSpec,
} from '@conveyor/shared';
import {
  DTYPE_TO_OIP,
  ErrorBodySchema,
  ModelMetadataSchema,
  ModelParamsSchema,
  ModelReadySchema,
  ServerMetadataSchema,
  type ModelMetadata,
} from './schemas.js';
import { PRODUCER_VERSION } from '../version.js';
import { useCompression } from './compression.js';

export interface ModelRouteOptions {
  /** Reads the announced models and their worker counts, and the models' aliases. */
  client: ModelLookup;
}

/** What a metadata or readiness lookup reads: the catalogue and the aliases. */
export type ModelLookup = Pick<ConveyorClient, 'models'> & Pick<QueueClient, 'aliases'>;

/**
 * Protocol extensions the producer implements (Triton's names): binary tensor data, the model
 * configuration and statistics routes, and the schedule policy's `priority` and `timeout`.
 */
export const SERVER_EXTENSIONS: readonly string[] = [
  'binary_tensor_data',
  'model_configuration',
  'schedule_policy',
  'statistics',
];

/** The protocol's name for how Conveyor runs every model. */
export const PLATFORM = 'onnxruntime_onnx';

/** The version of `versions` an alias's target gives the most weight (the newer on a tie). */
function heaviest(target: AliasTarget, versions: readonly ModelInfo[]): ModelInfo | undefined {
  let best: ModelInfo | undefined;
  for (const info of versions) {
    const weight = target[info.version] ?? 0;
    if (weight > 0 && (best === undefined || weight >= (target[best.version] ?? 0))) best = info;
  }
  return best;
}

/**
 * The versions an alias names among the announced ones, and the one it gives the most weight.
 * `production` unset follows the newest version, as requests do.
 */
async function lookUpAlias(
  client: ModelLookup,
  name: string,
  alias: string,
  announced: ModelInfo[],
): Promise<{ versions: ModelInfo[]; chosen: ModelInfo }> {
  const target = (await client.aliases(name))[alias];
  if (target === undefined) {
    if (alias === DEFAULT_ALIAS) return { versions: announced, chosen: announced.at(-1)! };
    throw new ConveyorError('ERR_ALIAS_NOT_FOUND', `model "${name}" has no alias "${alias}"`, {
      details: { model: name, alias },
    });
  }
  const versions = announced.filter((m) => (target[m.version] ?? 0) > 0);
  const chosen = heaviest(target, versions);
  if (chosen === undefined)
    throw new ConveyorError(
      'ERR_MODEL_VERSION_NOT_FOUND',
      `alias "${alias}" of model "${name}" points at versions no worker announced; announced: ${announced.map((m) => m.version).join(', ')}`,
      { details: { model: name, alias } },
    );
  return { versions, chosen };
}

/**
 * The announced versions of a model, oldest first, and the one a request names: a version, an
 * alias (the versions it points at, and the one it weighs most), or nothing (every version, the
 * newest chosen).
 */
export async function lookUp(
  client: ModelLookup,
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
  if (!ModelVersionSchema.safeParse(version).success)
    return lookUpAlias(client, name, version, versions);
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

/** Whether new jobs go to a version in this state (ready, or degraded by a failed warm-up). */
const takesJobs = (m: ModelInfo): boolean => m.state === 'ready' || m.state === 'degraded';

/**
 * Why none of `versions` serves (undefined when one does): a version serves when it takes jobs
 * and a live worker runs it. A worker that stopped, or stopped announcing (frozen), is not live.
 */
export function notServing(versions: readonly ModelInfo[]): string | undefined {
  if (versions.some((m) => takesJobs(m) && m.workers > 0)) return undefined;
  const taking = versions.filter(takesJobs);
  if (taking.length === 0) {
    const states = versions.map((m) => `version ${m.version} is ${m.state}`).join(', ');
    return `no version takes jobs yet: ${states}`;
  }
  const named =
    taking.length === 1
      ? `version ${taking[0]?.version}; its jobs wait`
      : `versions ${taking.map((m) => m.version).join(', ')}; their jobs wait`;
  return `no live worker serves ${named} in the queue until one does`;
}

const tensors = (specs: readonly TensorSpec[]) =>
  specs.map((spec) => ({
    name: spec.name,
    datatype: DTYPE_TO_OIP[spec.dtype],
    shape: [...spec.shape],
  }));

/**
 * Open Inference Protocol (v2) REST metadata: server metadata, model metadata and model
 * readiness, all from the model catalogue workers announce (`client.models()`, read from Redis
 * on every call, so readiness follows a worker within one request).
 */
export const modelRoutes: FastifyPluginAsyncZod<ModelRouteOptions> = async (app, { client }) => {
  await useCompression(app);
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
          summary:
            'Model readiness: 200 when a live worker serves the model (the version), else 400',
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
        // Without a version, the model is ready when any of its versions serves.
        const { versions } = await lookUp(client, name, version);
        const reason = notServing(versions);
        if (reason === undefined) return reply.code(200).send({ name, ready: true });
        return reply.code(400).send({ name, ready: false, reason });
      },
    );
  }
};
