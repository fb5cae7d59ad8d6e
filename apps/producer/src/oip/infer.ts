import { ownerOf } from '../plugins/auth.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { serializerCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Prediction } from '@conveyor/sdk';
import { ConveyorError, isConveyorError } from '@conveyor/shared';
import { HEADER_LENGTH_HEADER, binaryResponseBody, splitBinaryBody } from './binary.js';
import { readBinaryBody, type BodyStream } from './binary-body.js';
import {
  binaryChoice,
  encodeInferResponse,
  enqueueInfer,
  runInfer,
  type InferCall,
  type InferContext,
} from './infer-run.js';
import { useCompression } from './compression.js';
import { inferValidatorCompiler } from './infer-validator.js';
import { JOB_ID_HEADER } from '../plugins/error-handler.js';
import { parsePrefer } from './prefer.js';
import { inferBodyOf } from '../uploads/upload-bodies.js';
import { useUploads } from '../uploads/use-uploads.js';
import { binaryOf, keepBinary } from '../request-binary.js';
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

export type InferRouteOptions = Pick<InferContext, 'client' | 'config' | 'stats'>;

export { DEADLINE_GRACE_MS } from './infer-run.js';

/** Where the job routes (/v1) answer for a job accepted with 202. */
export const jobStatusUrl = (jobId: string): string => `/v1/jobs/${encodeURIComponent(jobId)}`;

/**
 * The answers this module builds from typed values (200 from `encodeInferResponse`, 202) are
 * written with JSON.stringify: zod would copy and check every output element again on each
 * answer. Error bodies, built elsewhere, are checked as on every other route.
 */
const inferSerializer: typeof serializerCompiler = (route) =>
  route.httpStatus === '200' || route.httpStatus === '202'
    ? (data: unknown) => JSON.stringify(data)
    : serializerCompiler(route);

type Done = (error: Error | null, body?: unknown) => void;

/**
 * Content type parsers of the infer routes: a body with an `Inference-Header-Content-Length`
 * header is the binary extension, whatever its content type (Triton's clients send none, others
 * application/octet-stream or JSON); without it only JSON is read. The JSON is parsed by fastify's
 * own parser, with its prototype-poisoning rules, and body sizes stay under MAX_BODY_BYTES. A body
 * that is not JSON is read by `readBinaryBody`, so its tensor blocks are views, not copies.
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
  const parseBinary = (request: FastifyRequest, body: Buffer, length: number, done: Done) => {
    try {
      const { header, binary } = splitBinaryBody(body, length);
      void json(request, header, (error, value) => {
        if (!error) keepBinary(request, binary);
        done(error, value);
      });
    } catch (error) {
      done(error as Error);
    }
  };
  /** A body read whole before `refusal` (if any) answers, as fastify's own parsers read it. */
  const readBinary = (
    request: FastifyRequest,
    payload: BodyStream,
    done: Done,
    refusal?: ConveyorError,
  ) => {
    const length = headerLength(request);
    const options = {
      limit: request.routeOptions.bodyLimit,
      contentLength: request.headers['content-length'],
      headerLength: length ?? 0,
    };
    readBinaryBody(payload, options, (error, body) => {
      if (error || body === undefined) return done(error);
      if (refusal) return done(refusal);
      if (length === undefined)
        return done(
          new ConveyorError(
            'ERR_UNSUPPORTED_MEDIA_TYPE',
            `a body that is not JSON needs an ${HEADER_LENGTH_HEADER} header (binary tensor data extension)`,
          ),
        );
      return parseBinary(request, body, length, done);
    });
  };
  // fastify's own text/plain parser would hand a string to the body schema; it is refused instead.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const length = headerLength(request);
    if (length === undefined) return json(request, (body as Buffer).toString('utf8'), done);
    return parseBinary(request, body as Buffer, length, done);
  });
  app.addContentTypeParser('application/octet-stream', (request, payload, done) =>
    readBinary(request, payload, done),
  );
  // A body without a content type (or another one) is read only as the binary extension.
  app.addContentTypeParser('*', (request, payload, done) => {
    const type = request.headers['content-type'];
    readBinary(
      request,
      payload,
      done,
      type === undefined
        ? undefined
        : new ConveyorError(
            'ERR_UNSUPPORTED_MEDIA_TYPE',
            `content type ${type} is not read here; send application/json or application/octet-stream`,
          ),
    );
  });
}

function sendPrediction(reply: FastifyReply, body: InferRequest, prediction: Prediction) {
  const { head, outputs, blocks } = encodeInferResponse(body, prediction, {
    binary: binaryChoice(body),
  });
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

/**
 * Open Inference Protocol (v2) REST `infer`, JSON or with the binary tensor data extension.
 * Converts the tensors to SDK inputs, checks back-pressure, runs one job through the model's queue
 * and waits for it. The job id goes back in `Conveyor-Job-Id`; on ERR_JOB_TIMEOUT (504) it is in
 * the body as `job_id` too. `Prefer: respond-async` answers 202 at once, and `Prefer: wait=N` 202
 * after N seconds, with `Location: /v1/jobs/{id}`.
 */
export const inferRoutes: FastifyPluginAsyncZod<InferRouteOptions> = async (
  app,
  { client, config, stats },
) => {
  await useCompression(app);
  addParsers(app);
  app.setSerializerCompiler(inferSerializer);
  app.setValidatorCompiler(inferValidatorCompiler);
  useUploads(app, { maxFileBytes: config.MAX_TENSOR_BYTES, bodyOf: inferBodyOf });
  const ctx: InferContext = {
    client,
    config,
    checkBackPressure: (model) => app.checkBackPressure(model),
    ...(stats && { stats }),
  };

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
            "JSON as below, or the binary tensor data extension: an Inference-Header-Content-Length header, the JSON header, then the raw little-endian bytes of each input with parameters.binary_data_size. Or multipart/form-data: each file part fills the BYTES input named by its field (one element per part; several parts of one name are several rows), the fields `id`, `parameters` and `outputs` are the request's own (JSON but `id`), any other field is an input tensor in JSON without its name. Prefer: respond-async or wait=N answers 202 with the job address.",
          consumes: ['application/json', 'application/octet-stream', 'multipart/form-data'],
          params: ModelParamsSchema,
          headers: InferHeadersSchema,
          body: InferRequestSchema,
          response: { 200: InferResponseSchema, 202: InferAcceptedSchema, ...errors },
        },
      },
      async (request, reply) => {
        const { name, version } = request.params;
        const { body, headers } = request;
        const prefer = parsePrefer(headers.prefer);
        const binary = binaryOf(request);
        // Set field by field: spreads of optional fields copied objects on every request.
        const call: InferCall = {
          name,
          body,
          arrivedAt: Date.now() - Math.round(reply.elapsedTime),
        };
        if (version !== undefined) call.version = version;
        if (binary !== undefined) call.binary = binary;
        const { owner } = ownerOf(request);
        if (owner !== undefined) call.owner = owner;
        const headerTimeoutMs = headers['conveyor-timeout-ms'];
        if (headerTimeoutMs !== undefined) call.headerTimeoutMs = headerTimeoutMs;
        if (prefer.waitS !== undefined) call.waitMs = prefer.waitS * 1000;
        if (prefer.waitS === 0 || (prefer.respondAsync && prefer.waitS === undefined)) {
          const jobId = await enqueueInfer(ctx, call);
          return sendAccepted(reply, jobId, prefer.waitS === 0 ? 'wait=0' : 'respond-async');
        }
        let prediction: Prediction;
        try {
          prediction = await runInfer(ctx, call);
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
};
