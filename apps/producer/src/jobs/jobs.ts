import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import type { JobRecord, QueueClient } from '@conveyor/sdk';
import type { Config } from '@conveyor/shared';
import { mayReadJob, ownerOf } from '../plugins/auth.js';
import { JOB_ID_HEADER } from '../plugins/error-handler.js';
import type { LazyJobsContext } from './jobs-context.js';
import { toJobInputs, toPredictOptions } from './jobs-inputs.js';
import {
  JobParamsSchema,
  JobPendingSchema,
  JobResultBodySchema,
  JobStatusSchema,
  ModelParamsSchema,
  ResultQuerySchema,
  SubmitJobBodySchema,
  SubmitJobHeadersSchema,
  SubmitJobResponseSchema,
} from './jobs-schemas.js';
import { jobNotFound, outcomeOf, readJobSummary, statusBody } from './jobs-view.js';
import { readWhenFinished } from './jobs-wait.js';
import { jobBodyOf } from '../uploads/upload-bodies.js';
import { useUploads } from '../uploads/use-uploads.js';
import { binaryOf } from '../request-binary.js';

export interface JobRoutesOptions {
  client: Pick<QueueClient, 'enqueue' | 'job'>;
  config: Pick<Config, 'MAX_TENSOR_BYTES'>;
  context: LazyJobsContext;
  /** Aborts when the producer starts closing, so long polls answer at once. */
  closing: AbortSignal;
}

/** The URLs of one job's resources, relative to the producer. */
export const jobUrls = (id: string) => ({
  status_url: `/v1/jobs/${id}`,
  result_url: `/v1/jobs/${id}/result`,
  events_url: `/v1/jobs/${id}/events`,
});

/** Seconds a client should wait before asking again for a result that is not ready. */
const RETRY_AFTER_S = 1;

/**
 * The asynchronous job API: submit a job and get its id at once (202), then read its status, its
 * result (optionally long-polling with `?wait=`), or cancel it while no worker has taken it.
 */
export const jobRoutes: FastifyPluginCallbackZod<JobRoutesOptions> = (app, options, done) => {
  const { client, config, context, closing } = options;
  useUploads(app, { maxFileBytes: config.MAX_TENSOR_BYTES, bodyOf: jobBodyOf });

  app.post(
    '/v1/models/:name/jobs',
    {
      schema: {
        description:
          'A job as JSON, or as multipart/form-data: each file part fills the input named by its field (one element per part, several parts of one name are several rows; a bytes input takes the raw bytes), the field `parameters` is JSON, any other field is an input in JSON.',
        consumes: ['application/json', 'multipart/form-data'],
        params: ModelParamsSchema,
        headers: SubmitJobHeadersSchema,
        body: SubmitJobBodySchema,
        response: { 202: SubmitJobResponseSchema },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const { inputs, parameters } = request.body;
      const converted = toJobInputs(inputs, config.MAX_TENSOR_BYTES, binaryOf(request));
      const ctx = await context.get();
      const callback = parameters?.callback_url;
      if (callback !== undefined) await ctx.webhooks.assertAllowed(callback);
      await app.checkBackPressure(name);
      let key = request.headers['idempotency-key'];
      let forget = () => Promise.resolve();
      // A job with a callback gets its id first and its callback stored before it exists: a
      // producer that stops in between leaves a registration the sweep drops, never a job without.
      if (callback !== undefined) {
        const registered = await ctx.webhooks.registerBefore(
          name,
          [key],
          callback,
          parameters?.version,
          ownerOf(request).owner,
        );
        key = registered.keys[0];
        forget = registered.forget;
      }
      const handle = await client
        .enqueue(name, converted, { ...toPredictOptions(parameters, key), ...ownerOf(request) })
        .catch(async (error: unknown) => {
          await forget();
          throw error;
        });
      request.log.debug({ model: name, jobId: handle.id }, 'job submitted');
      const urls = jobUrls(handle.id);
      return reply
        .code(202)
        .header('location', urls.status_url)
        .header(JOB_ID_HEADER, handle.id)
        .send({ job_id: handle.id, model: handle.model, ...urls });
    },
  );

  app.get(
    '/v1/jobs/:id',
    {
      schema: { params: JobParamsSchema, response: { 200: JobStatusSchema } },
    },
    async (request) => {
      const record = await readJobSummary(client, request.params.id);
      if (!record || !mayReadJob(request, record)) throw jobNotFound(request.params.id);
      return statusBody(record);
    },
  );

  app.get(
    '/v1/jobs/:id/result',
    {
      schema: {
        params: JobParamsSchema,
        querystring: ResultQuerySchema,
        response: { 200: JobResultBodySchema, 202: JobPendingSchema },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const waitMs = Math.round((request.query.wait ?? 0) * 1000);
      const mayRead = (record: JobRecord) => mayReadJob(request, record);
      const record = await readWhenFinished(client, id, waitMs, closing, mayRead);
      if (!record || !mayRead(record)) throw jobNotFound(id);
      if (record.outcome && !record.outcome.ok) throw record.outcome.error;
      const outcome = outcomeOf(record);
      if (outcome?.status === 'completed') return reply.code(200).send(outcome.result);
      return reply
        .code(202)
        .header('retry-after', String(RETRY_AFTER_S))
        .send({ job_id: id, state: statusBody(record).state });
    },
  );

  app.delete('/v1/jobs/:id', { schema: { params: JobParamsSchema } }, async (request, reply) => {
    if (request.principal?.scope === 'infer') {
      const record = await readJobSummary(client, request.params.id);
      if (!record || !mayReadJob(request, record)) throw jobNotFound(request.params.id);
    }
    await client.job(request.params.id).cancel();
    request.log.debug({ jobId: request.params.id }, 'job cancelled');
    return reply.code(204).send();
  });

  done();
};
