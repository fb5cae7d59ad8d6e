import { ownerOf } from '../plugins/auth.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import type { ConveyorClient, PredictOptions, Prediction } from '@conveyor/sdk';
import {
  ConveyorError,
  RedisTimeoutError,
  isConveyorError,
  redisAddress,
  redisUnavailable,
  type Config,
} from '@conveyor/shared';
import { HEADER_LENGTH_HEADER, binaryResponseBody, splitBinaryBody } from './binary.js';
import { encodeOipOutputs, toSdkInputs } from './tensors.js';
import { JOB_ID_HEADER } from '../plugins/error-handler.js';
import { parsePrefer, type Preferences } from './prefer.js';
import {
  BinaryInferResponseSchema,
  ErrorBodySchema,
  InferAcceptedSchema,
  InferHeadersSchema,
  InferRequestSchema,
  InferResponseSchema,
  ModelParamsSchema,
  type InferOutput,
  type InferRequest,
} from './schemas.js';

export interface InferRouteOptions {
  client: Pick<ConveyorClient, 'predict' | 'enqueue'>;
  config: Pick<Config, 'PREDICT_TIMEOUT_MS' | 'MAX_TENSOR_BYTES' | 'REDIS_URL'>;
}

/**
 * How long past its wait a request may run, in ms, so that the client's own ERR_JOB_TIMEOUT (with
 * the job id), armed once the job is queued, comes first even when the first request of a model
 * opens connections and loads scripts; past it Redis is too slow to queue a job and the request
 * answers ERR_QUEUE_UNAVAILABLE.
 */
export const DEADLINE_GRACE_MS = 1000;

/** Settles like `work`, or rejects with `late()` after `ms`; `work` goes on, its outcome ignored. */
async function beforeDeadline<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Where the job routes (/v1) answer for a job accepted with 202. */
export const jobStatusUrl = (jobId: string): string => `/v1/jobs/${encodeURIComponent(jobId)}`;

/** The binary part of each request body of the binary tensor data extension, by request. */
const binaryParts = new WeakMap<FastifyRequest, Buffer>();

type Done = (error: Error | null, body?: unknown) => void;

/**
 * Content type parsers of the infer routes: a body with an `Inference-Header-Content-Length`
 * header is the binary extension, whatever its content type (Triton's clients send none, others
 * application/octet-stream or JSON); without it only JSON is read. The JSON is parsed by fastify's
 * own parser, with its prototype-poisoning rules, and body sizes stay under MAX_BODY_BYTES.
 */
function addParsers(app: FastifyInstance): void {
  const json = app.getDefaultJsonParser(
    app.initialConfig.onProtoPoisoning ?? 'error',
    app.initialConfig.onConstructorPoisoning ?? 'ignore',
  );
  const headerLength = (request: FastifyRequest): number | undefined => {
    const value = request.headers['inference-header-content-length'];
    return typeof value === 'string' ? Number(value) : undefined;
  };
  const parse = (request: FastifyRequest, body: Buffer, done: Done, binaryOnly: boolean) => {
    const length = headerLength(request);
    if (length === undefined) {
      if (!binaryOnly) return json(request, body.toString('utf8'), done);
      return done(
        new ConveyorError(
          'ERR_UNSUPPORTED_MEDIA_TYPE',
          `a body that is not JSON needs an ${HEADER_LENGTH_HEADER} header (binary tensor data extension)`,
        ),
      );
    }
    try {
      const { header, binary } = splitBinaryBody(body, length);
      void json(request, header, (error, value) => {
        if (!error) binaryParts.set(request, binary);
        done(error, value);
      });
    } catch (error) {
      done(error as Error);
    }
  };
  // fastify's own text/plain parser would hand a string to the body schema; it is refused instead.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) =>
    parse(request, body as Buffer, done, false),
  );
  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer' },
    (request, body, done) => parse(request, body as Buffer, done, true),
  );
  // A body without a content type (or another one) is read only as the binary extension.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    if (request.headers['content-type'] !== undefined) {
      return done(
        new ConveyorError(
          'ERR_UNSUPPORTED_MEDIA_TYPE',
          `content type ${request.headers['content-type']} is not read here; send application/json or application/octet-stream`,
        ),
      );
    }
    return parse(request, body as Buffer, done, true);
  });
}

/** Whether an output goes back in binary: its own `binary_data`, else `binary_data_output`. */
function binaryChoice(body: InferRequest): (name: string) => boolean {
  const all = body.parameters?.binary_data_output === true;
  const own = new Map(body.outputs?.map((o) => [o.name, o.parameters?.binary_data]));
  return (name) => own.get(name) ?? all;
}

function sendPrediction(reply: FastifyReply, body: InferRequest, prediction: Prediction) {
  const { outputs, blocks } = encodeOipOutputs(prediction.outputs, {
    ...(body.outputs && { order: body.outputs.map((o) => o.name) }),
    binary: binaryChoice(body),
  });
  const head = {
    model_name: prediction.model,
    model_version: prediction.version,
    id: body.id ?? prediction.jobId,
  };
  const json = outputs.filter((o): o is InferOutput => 'data' in o);
  if (json.length === outputs.length) return reply.code(200).send({ ...head, outputs: json });
  // A Buffer skips the route's serializer, so the JSON header is checked here instead.
  const { body: payload, headerLength } = binaryResponseBody(
    BinaryInferResponseSchema.parse({ ...head, outputs }),
    blocks,
  );
  return reply
    .code(200)
    .header(HEADER_LENGTH_HEADER, String(headerLength))
    .type('application/octet-stream')
    .send(payload);
}

function sendAccepted(reply: FastifyReply, jobId: string, applied: string) {
  const url = jobStatusUrl(jobId);
  return reply
    .code(202)
    .header(JOB_ID_HEADER, jobId)
    .header('Location', url)
    .header('Preference-Applied', applied)
    .send({ job_id: jobId, status_url: url });
}

/** How long to wait for the result, in ms: `Prefer: wait`, the body, the header, the default. */
function waitMs(
  prefer: Preferences,
  body: InferRequest,
  headerMs: number | undefined,
  defaultMs: number,
): number {
  if (prefer.waitS !== undefined) return prefer.waitS * 1000;
  return body.parameters?.timeout ?? headerMs ?? defaultMs;
}

/**
 * Open Inference Protocol (v2) REST `infer`, JSON or with the binary tensor data extension.
 * Converts the tensors to SDK inputs, checks back-pressure, runs one job through the model's
 * queue and waits for it. The job id goes back in `Conveyor-Job-Id`; on ERR_JOB_TIMEOUT (504) it is in
 * the body as `job_id` too. `Prefer: respond-async` answers 202 at once, and `Prefer: wait=N`
 * 202 after N seconds, with `Location: /v1/jobs/{id}`.
 */
export const inferRoutes: FastifyPluginCallbackZod<InferRouteOptions> = (
  app,
  { client, config },
  done,
) => {
  addParsers(app);
  const redisAt = redisAddress(config.REDIS_URL);

  const errors = Object.fromEntries(
    [400, 401, 403, 404, 413, 415, 429, 500, 503, 504].map((status) => [status, ErrorBodySchema]),
  );

  for (const url of ['/v2/models/:name/infer', '/v2/models/:name/versions/:version/infer']) {
    app.post(
      url,
      {
        schema: {
          summary: 'Run a model (Open Inference Protocol v2)',
          description:
            'JSON as below, or the binary tensor data extension: an Inference-Header-Content-Length header, the JSON header, then the raw little-endian bytes of each input with parameters.binary_data_size. Prefer: respond-async or wait=N answers 202 with the job address.',
          params: ModelParamsSchema,
          headers: InferHeadersSchema,
          body: InferRequestSchema,
          response: { 200: InferResponseSchema, 202: InferAcceptedSchema, ...errors },
        },
      },
      async (request, reply) => {
        const { name, version } = request.params;
        const { body, headers } = request;
        const inputs = toSdkInputs(body.inputs, config.MAX_TENSOR_BYTES, binaryParts.get(request));
        const options: PredictOptions = {};
        if (version !== undefined) options.version = version;
        if (body.outputs !== undefined) options.outputs = body.outputs.map((o) => o.name);
        // A job kept for later (Prefer: respond-async, a timeout) belongs to the request's key.
        Object.assign(options, ownerOf(request));
        const prefer = parsePrefer(headers.prefer);
        if (prefer.waitS === 0 || (prefer.respondAsync && prefer.waitS === undefined)) {
          // No wait to keep: each Redis call fails within PRODUCER_COMMAND_TIMEOUT_MS.
          await app.checkBackPressure(name);
          const job = await client.enqueue(name, inputs, options);
          return sendAccepted(reply, job.id, prefer.waitS === 0 ? 'wait=0' : 'respond-async');
        }
        // The wait covers the whole request from its arrival (the rate limit's count, the body,
        // the back-pressure check, the enqueue), so a Redis that does not answer cannot hold it
        // past its deadline.
        const wait = waitMs(
          prefer,
          body,
          headers['conveyor-timeout-ms'],
          config.PREDICT_TIMEOUT_MS,
        );
        const deadline = Date.now() - Math.round(reply.elapsedTime) + wait;
        let prediction: Prediction;
        try {
          prediction = await beforeDeadline(
            (async () => {
              await app.checkBackPressure(name);
              options.timeoutMs = Math.max(1, deadline - Date.now());
              return client.predict(name, inputs, options);
            })(),
            Math.max(0, deadline - Date.now()) + DEADLINE_GRACE_MS,
            () => redisUnavailable(redisAt, new RedisTimeoutError(wait)),
          );
        } catch (error) {
          // A wait the client chose that ran out is not a failure: the job is queued, say where.
          const jobId = isConveyorError(error) ? error.details.jobId : undefined;
          if (
            prefer.waitS !== undefined &&
            isConveyorError(error) &&
            error.code === 'ERR_JOB_TIMEOUT' &&
            typeof jobId === 'string'
          )
            return sendAccepted(reply, jobId, `wait=${prefer.waitS}`);
          throw error;
        }
        request.log.debug(
          {
            model: name,
            version: prediction.version,
            jobId: prediction.jobId,
            ...prediction.timings,
            shapes: body.inputs.map((i) => i.shape),
          },
          'inference completed',
        );
        return sendPrediction(reply.header(JOB_ID_HEADER, prediction.jobId), body, prediction);
      },
    );
  }

  done();
};
