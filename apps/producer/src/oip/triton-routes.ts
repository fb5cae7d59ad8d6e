import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { TensorSpec } from '@conveyor/shared';
import { useCompression } from './compression.js';
import type { InferStats } from './infer-stats.js';
import { PLATFORM, lookUp, type ModelRouteOptions } from './models.js';
import {
  DTYPE_TO_OIP,
  ErrorBodySchema,
  ModelConfigSchema,
  ModelParamsSchema,
  ModelStatsResponseSchema,
  type ModelConfig,
  type ModelStatsResponse,
} from './schemas.js';

export interface TritonRouteOptions extends ModelRouteOptions {
  /** The counters infer requests record into (the same instance the infer routes use). */
  stats: InferStats;
}

/** Triton's `data_type` of a Conveyor dtype: `TYPE_` and the datatype, BYTES as STRING. */
const dataType = (spec: TensorSpec): string => {
  const oip = DTYPE_TO_OIP[spec.dtype];
  return `TYPE_${oip === 'BYTES' ? 'STRING' : oip}`;
};

const configTensors = (specs: readonly TensorSpec[]) =>
  specs.map((spec) => ({ name: spec.name, data_type: dataType(spec), dims: [...spec.shape] }));

const ZERO = { count: 0, ns: 0 };

/**
 * Triton's model configuration and statistics extensions on REST, from the model catalogue and
 * the producer's own counters (`InferStats`). An unknown model or version is 404, as on the
 * metadata routes.
 */
export const tritonRoutes: FastifyPluginAsyncZod<TritonRouteOptions> = async (
  app,
  { client, stats },
) => {
  await useCompression(app);
  const errors = {
    400: ErrorBodySchema,
    401: ErrorBodySchema,
    404: ErrorBodySchema,
    503: ErrorBodySchema,
  };

  for (const url of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get(
      `${url}/config`,
      {
        schema: {
          summary: 'Model configuration (Triton model_configuration extension)',
          description:
            'The announced signature of the version (the newest without one) as Triton model config JSON: max_batch_size 0, dims are whole shapes with -1 for a free dimension.',
          params: ModelParamsSchema,
          response: { 200: ModelConfigSchema, ...errors },
        },
      },
      async (request): Promise<ModelConfig> => {
        const { name, version } = request.params;
        const { chosen } = await lookUp(client, name, version);
        return {
          name,
          platform: PLATFORM,
          backend: 'onnxruntime',
          max_batch_size: 0,
          input: configTensors(chosen.inputs),
          output: configTensors(chosen.outputs),
        };
      },
    );

    app.get(
      `${url}/stats`,
      {
        schema: {
          summary: 'Model statistics (Triton statistics extension)',
          description:
            'Infer requests (REST and gRPC) this producer process served since it started, per announced version. compute_input, compute_output, cache_hit and cache_miss are always 0.',
          params: ModelParamsSchema,
          response: { 200: ModelStatsResponseSchema, ...errors },
        },
      },
      async (request): Promise<ModelStatsResponse> => {
        const { name, version } = request.params;
        const { versions } = await lookUp(client, name, version);
        return {
          model_stats: versions.map((m) => {
            const s = stats.read(name, m.version);
            return {
              name,
              version: m.version,
              last_inference: s.last_inference,
              inference_count: s.inference_count,
              execution_count: s.execution_count,
              inference_stats: {
                success: s.success,
                fail: s.fail,
                queue: s.queue,
                compute_input: ZERO,
                compute_infer: s.compute_infer,
                compute_output: ZERO,
                cache_hit: ZERO,
                cache_miss: ZERO,
              },
              batch_stats: [],
              memory_usage: [],
            };
          }),
        };
      },
    );
  }
};
