import type { FastifyBaseLogger } from 'fastify';
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import type { ConveyorClient, PredictOptions } from '@conveyor/sdk';
import type { Config } from '@conveyor/shared';
import { toOipOutputs, toSdkInputs } from '../oip-tensors.js';
import { JOB_ID_HEADER } from '../plugins/error-handler.js';
import {
  InferHeadersSchema,
  InferParamsSchema,
  InferRequestSchema,
  InferResponseSchema,
  type InferRequest,
  type InferResponse,
} from '../schemas.js';

export interface InferRouteOptions {
  client: Pick<ConveyorClient, 'predict'>;
  config: Pick<Config, 'PREDICT_TIMEOUT_MS' | 'MAX_TENSOR_BYTES'>;
}

/**
 * Open Inference Protocol (v2) REST `infer`: converts the JSON tensors to SDK inputs, runs one
 * job through the model's queue and waits for it. The job id goes back in `Conveyor-Job-Id`; on
 * ERR_JOB_TIMEOUT (504) it is in the body as `job_id` too, so the result can be fetched later.
 */
export const inferRoutes: FastifyPluginCallbackZod<InferRouteOptions> = (
  app,
  { client, config },
  done,
) => {
  const infer = async (
    log: FastifyBaseLogger,
    model: string,
    version: string | undefined,
    body: InferRequest,
    headerTimeoutMs: number | undefined,
  ): Promise<{ jobId: string; response: InferResponse }> => {
    const inputs = toSdkInputs(body.inputs, config.MAX_TENSOR_BYTES);
    // The body names this request's own wait; the header is for clients that cannot add parameters.
    const options: PredictOptions = {
      timeoutMs: body.parameters?.timeout ?? headerTimeoutMs ?? config.PREDICT_TIMEOUT_MS,
    };
    if (version !== undefined) options.version = version;
    if (body.outputs !== undefined) options.outputs = body.outputs.map((o) => o.name);
    const prediction = await client.predict(model, inputs, options);
    log.debug(
      {
        model,
        version: prediction.version,
        jobId: prediction.jobId,
        ...prediction.timings,
        shapes: body.inputs.map((i) => i.shape),
      },
      'inference completed',
    );
    return {
      jobId: prediction.jobId,
      response: {
        model_name: prediction.model,
        model_version: prediction.version,
        id: body.id ?? prediction.jobId,
        outputs: toOipOutputs(prediction.outputs),
      },
    };
  };

  const response = { 200: InferResponseSchema };

  for (const url of ['/v2/models/:name/infer', '/v2/models/:name/versions/:version/infer']) {
    app.post(
      url,
      {
        schema: {
          params: InferParamsSchema,
          headers: InferHeadersSchema,
          body: InferRequestSchema,
          response,
        },
      },
      async (request, reply) => {
        const { jobId, response: body } = await infer(
          request.log,
          request.params.name,
          request.params.version,
          request.body,
          request.headers['conveyor-timeout-ms'],
        );
        return reply.header(JOB_ID_HEADER, jobId).send(body);
      },
    );
  }

  done();
};
