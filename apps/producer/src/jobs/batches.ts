import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { MAX_PACK_BYTES, type QueueClient } from '@conveyor/sdk';
import { ConveyorError, type Config } from '@conveyor/shared';
import { mayReadJob, ownerOf } from '../plugins/auth.js';
import { byJob, parseEntry } from './batches-entries.js';
import { readItems } from './batches-items.js';
import { mayPack, planUnits } from './batches-pack.js';
import { resultsInCompletionOrder, resultsInInputOrder } from './batches-results.js';
import {
  BatchCreatedSchema,
  BatchParamsSchema,
  BatchResultsQuerySchema,
  BatchStatusSchema,
  type BatchStatus,
} from './batches-schemas.js';
import { createPackSizes } from './batches-sizes.js';
import { batchCounts } from './batches-status.js';
import { submitBatch } from './batches-submit.js';
import { createUnpacker, type BatchSource } from './batches-unpack.js';
import type { LazyJobsContext } from './jobs-context.js';
import { toPredictOptions } from './jobs-inputs.js';
import { readJobSummary } from './jobs-view.js';
import { ModelParamsSchema } from './jobs-schemas.js';

export interface BatchRoutesOptions {
  client: Pick<QueueClient, 'enqueueMany' | 'job' | 'models'>;
  config: Pick<
    Config,
    'MAX_TENSOR_BYTES' | 'MAX_BODY_BYTES' | 'BATCH_MAX_ITEMS' | 'KEEP_COMPLETED_AGE_S'
  >;
  context: LazyJobsContext;
  /** Aborts when the producer starts closing, so result streams end at once. */
  closing: AbortSignal;
}

const NDJSON = 'application/x-ndjson';

/**
 * Batches: many jobs of one model in one request, as a JSON body `{ items, parameters? }` or as
 * NDJSON (one item per line, parameters in the query string) read as it streams in. Every item
 * is checked before anything is enqueued; then items are packed into jobs where the model allows
 * (see batches-pack.ts) and enqueued BATCH_CHUNK jobs at a time (batches-submit.ts). Where each
 * item is (its job, and its rows of a packed job) is kept in Redis, in input order, as long as
 * completed jobs.
 */
export const batchRoutes: FastifyPluginCallbackZod<BatchRoutesOptions> = (app, options, done) => {
  const { client, config, context, closing } = options;
  const batchKey = (prefix: string, id: string) => `${prefix}:batch:${id}`;
  const unpacker = createUnpacker(client, context);
  const sizes = createPackSizes();

  // The stream itself is the body: ndjsonLines reads it line by line, with the body limit.
  app.addContentTypeParser(NDJSON, (_request, payload, parsed) => parsed(null, payload));

  app.post(
    // "::" is a literal ":" in a fastify path (the Google API style custom method).
    '/v1/models/:name/jobs::batch',
    {
      schema: { params: ModelParamsSchema, response: { 202: BatchCreatedSchema } },
    },
    async (request, reply) => {
      const model = request.params.name;
      const ndjson = (request.headers['content-type'] ?? '').startsWith(NDJSON);
      let read;
      try {
        read = await readItems(
          request.body,
          ndjson,
          request.query as Record<string, unknown>,
          config,
        );
      } finally {
        // A refused NDJSON upload is drained, so the client reads the answer instead of a reset.
        if (ndjson) (request.body as Readable).resume();
      }
      const { items, labels, parameters } = read;
      if (items.length === 0) {
        throw new ConveyorError('ERR_VALIDATION', 'a batch needs at least one item', {
          issues: [{ path: ndjson ? 'body' : 'items', message: 'is empty' }],
        });
      }
      const ctx = await context.get();
      const callback = parameters?.callback_url;
      if (callback !== undefined) await ctx.webhooks.assertAllowed(callback);
      // A callback is per job, so a batch with one has a job per item.
      const pack = callback === undefined && mayPack(await client.models(), model);
      const units = planUnits(items, pack, {
        rows: sizes.rows(model),
        // predictMany's bound, and never more than MAX_TENSOR_BYTES.
        bytes: Math.min(MAX_PACK_BYTES, config.MAX_TENSOR_BYTES),
      });
      await app.checkBackPressure(model, units.length);
      const batchId = `b-${randomUUID()}`;
      const { owner } = ownerOf(request);
      const ids = await submitBatch({
        client,
        ctx,
        model,
        key: batchKey(ctx.queues.prefix, batchId),
        ttl: Math.max(60, config.KEEP_COMPLETED_AGE_S),
        units,
        labels,
        options: { ...toPredictOptions(parameters, undefined), ...ownerOf(request) },
        ...(callback !== undefined && {
          callback: { url: callback, version: parameters?.version, owner },
        }),
      });
      request.log.info(
        { model, batchId, count: ids.length, jobs: units.length },
        'batch submitted',
      );
      const statusUrl = `/v1/batches/${batchId}`;
      return reply
        .code(202)
        .header('location', statusUrl)
        .send({
          batch_id: batchId,
          model,
          count: ids.length,
          job_ids: ids,
          status_url: statusUrl,
          results_url: `${statusUrl}/results`,
        });
    },
  );

  /**
   * A batch's entries (see batches-entries.ts); a batch belongs to the key whose jobs it holds
   * (see mayReadJob).
   */
  const batchSource = async (request: FastifyRequest, id: string) => {
    const ctx = await context.get();
    const key = batchKey(ctx.queues.prefix, id);
    const entries = (await ctx.queues.redis.lrange(key, 0, -1)).map(parseEntry);
    const first = entries[0]?.jobId;
    const check = request.principal?.scope === 'infer' && first !== undefined;
    const owned = !check || mayReadJob(request, await readJobSummary(client, first ?? ''));
    if (entries.length === 0 || !owned) {
      throw new ConveyorError('ERR_BATCH_NOT_FOUND', `batch ${id} does not exist (or expired)`, {
        details: { batchId: id },
      });
    }
    const source: BatchSource = {
      key,
      entries,
      groups: byJob(entries),
      unpacker,
      learn: (prediction, rows) => sizes.observe(prediction.model, prediction.timings, rows),
    };
    return { ctx, source };
  };

  app.get(
    '/v1/batches/:id',
    {
      schema: { params: BatchParamsSchema, response: { 200: BatchStatusSchema } },
    },
    async (request): Promise<BatchStatus> => {
      const { source } = await batchSource(request, request.params.id);
      // A batch's jobs may be spread over versions (an alias's weights apply per job).
      const counts = await batchCounts(
        client,
        source,
        async (id) => (await client.job(id).status()).state,
      );
      const total = source.entries.length;
      const finished = counts.completed + counts.failed + counts.unknown === total;
      return { batch_id: request.params.id, total, counts, finished };
    },
  );

  app.get(
    '/v1/batches/:id/results',
    {
      schema: { params: BatchParamsSchema, querystring: BatchResultsQuerySchema },
    },
    async (request, reply) => {
      const { source } = await batchSource(request, request.params.id);
      const { order, wait } = request.query;
      const gone = new AbortController();
      reply.raw.on('close', () => gone.abort());
      const stop = AbortSignal.any([closing, gone.signal]);
      const lines =
        order === 'completion'
          ? resultsInCompletionOrder(client, source, wait * 1000, stop)
          : resultsInInputOrder(client, source, wait * 1000, stop);
      // The head goes out now, before the first line, so a client knows the stream has begun
      // (and, in completion order, that every job is already watched).
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'application/x-ndjson; charset=utf-8',
        'cache-control': 'no-cache',
        // See jobs-sse.ts: the socket ends with the stream.
        connection: 'close',
      });
      // writeHead alone keeps the head until the first line: a stream whose jobs all wait would
      // otherwise say nothing, not even that it began.
      reply.raw.flushHeaders();
      try {
        await pipeline(Readable.from(lines), reply.raw);
      } catch (err) {
        // A client that went away, or Redis failing mid-stream: the stream is cut short.
        request.log.warn({ err, batchId: request.params.id }, 'batch results stream ended early');
        reply.raw.destroy();
      }
    },
  );

  done();
};
