import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import type { BulkItem, QueueClient } from '@conveyor/sdk';
import {
  ConveyorError,
  isConveyorError,
  queueOfJobId,
  parseOrThrow,
  zodIssues,
  type Config,
} from '@conveyor/shared';
import { mayReadJob, ownerOf } from '../plugins/auth.js';
import { resultsInCompletionOrder, resultsInInputOrder } from './batches-results.js';
import { ndjsonLines } from './batches-ndjson.js';
import {
  BatchBodySchema,
  BatchCreatedSchema,
  BatchItemSchema,
  BatchParamsSchema,
  BatchQuerySchema,
  BatchResultsQuerySchema,
  BatchStatusSchema,
  type BatchStatus,
} from './batches-schemas.js';
import type { LazyJobsContext } from './jobs-context.js';
import { toJobInputs, toPredictOptions } from './jobs-inputs.js';
import { readJob } from './jobs-view.js';
import { JobParametersSchema, ModelParamsSchema, type JobParameters } from './jobs-schemas.js';

export interface BatchRoutesOptions {
  client: Pick<QueueClient, 'enqueueMany' | 'job'>;
  config: Pick<
    Config,
    'MAX_TENSOR_BYTES' | 'MAX_BODY_BYTES' | 'BATCH_MAX_ITEMS' | 'KEEP_COMPLETED_AGE_S'
  >;
  context: LazyJobsContext;
  /** Aborts when the producer starts closing, so result streams end at once. */
  closing: AbortSignal;
}

/** Jobs per enqueueMany call (one BullMQ addBulk round trip each). */
export const BATCH_CHUNK = 1000;

const NDJSON = 'application/x-ndjson';

/** Re-labels an item's error with where it was in the request: `items.3` or `line 4`. */
function relabel(error: unknown, label: string, details: Record<string, unknown>): unknown {
  if (!isConveyorError(error)) return error;
  const message = error.message.replace(/^item [0-9]+: /, '');
  return new ConveyorError(error.code, `${label}: ${message}`, {
    cause: error,
    details: { ...error.details, ...details },
    issues: error.issues.map((i) => ({ path: `${label}.${i.path}`, message: i.message })),
  });
}

/**
 * Batches: many jobs of one model in one request, as a JSON body `{ items, parameters? }` or as
 * NDJSON (one item per line, parameters in the query string) read as it streams in. Every item
 * is checked before anything is enqueued; then they are enqueued BATCH_CHUNK at a time with
 * enqueueMany. The batch's job ids are kept in Redis, in input order, as long as completed jobs.
 */
export const batchRoutes: FastifyPluginCallbackZod<BatchRoutesOptions> = (app, options, done) => {
  const { client, config, context, closing } = options;
  const batchKey = (prefix: string, id: string) => `${prefix}:batch:${id}`;

  // The stream itself is the body: ndjsonLines reads it line by line, with the body limit.
  app.addContentTypeParser(NDJSON, (_request, payload, parsed) => parsed(null, payload));

  const readItems = async (
    body: unknown,
    ndjson: boolean,
    query: Record<string, unknown>,
  ): Promise<{ items: BulkItem[]; labels: string[]; parameters: JobParameters | undefined }> => {
    const items: BulkItem[] = [];
    const labels: string[] = [];
    const add = (value: unknown, label: string, details: Record<string, unknown>) => {
      if (items.length >= config.BATCH_MAX_ITEMS) {
        throw new ConveyorError(
          'ERR_VALIDATION',
          `${label}: a batch holds at most ${config.BATCH_MAX_ITEMS} items (BATCH_MAX_ITEMS)`,
          { issues: [{ path: label, message: 'is over BATCH_MAX_ITEMS' }], details },
        );
      }
      const parsed = BatchItemSchema.safeParse(value);
      if (!parsed.success) {
        const issues = zodIssues(parsed.error, [label]);
        throw new ConveyorError(
          'ERR_VALIDATION',
          `${label} is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
          { issues, details },
        );
      }
      try {
        const item: BulkItem = { inputs: toJobInputs(parsed.data.inputs, config.MAX_TENSOR_BYTES) };
        if (parsed.data.idempotency_key !== undefined)
          item.idempotencyKey = parsed.data.idempotency_key;
        items.push(item);
        labels.push(label);
      } catch (error) {
        throw relabel(error, label, details);
      }
    };

    if (ndjson) {
      const parameters = parseOrThrow(
        JobParametersSchema,
        parseOrThrow(BatchQuerySchema, query, 'query string'),
        'query string',
      );
      for await (const { line, value } of ndjsonLines(
        body as AsyncIterable<Buffer>,
        config.MAX_BODY_BYTES,
      ))
        add(value, `line ${line}`, { line });
      return { items, labels, parameters };
    }
    if (Object.keys(query).length > 0) {
      throw new ConveyorError(
        'ERR_VALIDATION',
        'a JSON batch takes its parameters in the body; the query string is for NDJSON batches',
        { issues: [{ path: 'querystring', message: 'must be empty for a JSON body' }] },
      );
    }
    const parsed = parseOrThrow(BatchBodySchema, body, 'request body');
    parsed.items.forEach((value, index) => add(value, `items.${index}`, { index }));
    return { items, labels, parameters: parsed.parameters };
  };

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
        read = await readItems(request.body, ndjson, request.query as Record<string, unknown>);
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
      await app.checkBackPressure(model, items.length);
      const batchId = `b-${randomUUID()}`;
      const key = batchKey(ctx.queues.prefix, batchId);
      const ttl = Math.max(60, config.KEEP_COMPLETED_AGE_S);
      const { redis } = ctx.queues;
      const ids: string[] = [];
      try {
        for (let start = 0; start < items.length; start += BATCH_CHUNK) {
          let part = items.slice(start, start + BATCH_CHUNK);
          let forget = () => Promise.resolve();
          // With a callback, each job gets its id first and its callback stored before it
          // exists, as for a single job (see jobs.ts).
          if (callback !== undefined) {
            const registered = await ctx.webhooks.registerBefore(
              model,
              part.map((item) => item.idempotencyKey),
              callback,
              parameters?.version,
              ownerOf(request).owner,
            );
            part = part.map((item, i) => {
              const idempotencyKey = registered.keys[i];
              return idempotencyKey === undefined ? item : { ...item, idempotencyKey };
            });
            forget = registered.forget;
          }
          const handles = await client
            .enqueueMany(model, part, {
              ...toPredictOptions(parameters, undefined),
              ...ownerOf(request),
            })
            .catch(async (error: unknown) => {
              await forget();
              const index = isConveyorError(error) ? error.details.index : undefined;
              if (typeof index !== 'number') throw error;
              throw relabel(error, labels[start + index] ?? `items.${start + index}`, {
                index: start + index,
              });
            });
          const chunk = handles.map((h) => h.id);
          ids.push(...chunk);
          await redis
            .multi()
            .rpush(key, ...chunk)
            .expire(key, ttl)
            .exec();
        }
      } catch (error) {
        // As close to all-or-nothing as a queue allows: jobs of earlier chunks that no worker
        // has taken yet are cancelled, and the batch is forgotten.
        await Promise.allSettled(ids.map((id) => client.job(id).cancel()));
        await redis.del(key).catch(() => 0);
        throw error;
      }
      request.log.info({ model, batchId, count: ids.length }, 'batch submitted');
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

  /** A batch's job ids; a batch belongs to the key whose jobs it holds (see mayReadJob). */
  const batchIds = async (request: FastifyRequest, id: string) => {
    const ctx = await context.get();
    const ids = await ctx.queues.redis.lrange(batchKey(ctx.queues.prefix, id), 0, -1);
    const first = request.principal?.scope === 'infer' && ids[0] !== undefined;
    const owned = !first || mayReadJob(request, await readJob(client, ids[0] ?? ''));
    if (ids.length === 0 || !owned) {
      throw new ConveyorError('ERR_BATCH_NOT_FOUND', `batch ${id} does not exist (or expired)`, {
        details: { batchId: id },
      });
    }
    return { ctx, ids };
  };

  app.get(
    '/v1/batches/:id',
    {
      schema: { params: BatchParamsSchema, response: { 200: BatchStatusSchema } },
    },
    async (request): Promise<BatchStatus> => {
      const { ctx, ids } = await batchIds(request, request.params.id);

      const counts: BatchStatus['counts'] = {
        waiting: 0,
        prioritized: 0,
        delayed: 0,
        active: 0,
        completed: 0,
        failed: 0,
        'waiting-children': 0,
        unknown: 0,
      };
      for (let start = 0; start < ids.length; start += BATCH_CHUNK) {
        const states = await Promise.all(
          // A batch's jobs may be spread over versions (an alias's weights apply per job).
          ids
            .slice(start, start + BATCH_CHUNK)
            .map((id) => ctx.queues.predict(queueOfJobId(id)).getJobState(id)),
        );
        for (const state of states) if (state in counts) counts[state] += 1;
      }
      const finished = counts.completed + counts.failed + counts.unknown === ids.length;
      return { batch_id: request.params.id, total: ids.length, counts, finished };
    },
  );

  app.get(
    '/v1/batches/:id/results',
    {
      schema: { params: BatchParamsSchema, querystring: BatchResultsQuerySchema },
    },
    async (request, reply) => {
      const { ids } = await batchIds(request, request.params.id);
      const { order, wait } = request.query;
      const gone = new AbortController();
      reply.raw.on('close', () => gone.abort());
      const stop = AbortSignal.any([closing, gone.signal]);
      const lines =
        order === 'completion'
          ? resultsInCompletionOrder(client, ids, wait * 1000, stop)
          : resultsInInputOrder(client, ids, wait * 1000, stop);
      // The head goes out now, before the first line, so a client knows the stream has begun
      // (and, in completion order, that every job is already watched).
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'application/x-ndjson; charset=utf-8',
        'cache-control': 'no-cache',
        // See jobs-sse.ts: the socket ends with the stream.
        connection: 'close',
      });
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
