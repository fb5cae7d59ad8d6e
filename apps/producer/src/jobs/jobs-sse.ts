import { mayReadJob } from '../plugins/auth.js';
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import type { JobEvent, JobState } from '@conveyor/sdk';
import { isConveyorError, type Config } from '@conveyor/shared';
import { JOB_ID_HEADER, errorBody } from '../plugins/error-handler.js';
import { JobParamsSchema } from './jobs-schemas.js';
import { jobNotFound, outcomeOf, readJob, statusBody, type JobReader } from './jobs-view.js';

export interface JobEventRoutesOptions {
  config: Pick<Config, 'SSE_HEARTBEAT_MS'>;
  client: JobReader;
}

/**
 * `GET /v1/jobs/{id}/events`: the job's life as Server-Sent Events. The first event, `state`, is
 * the job's status as `GET /v1/jobs/{id}` gives it; then one event per change (`waiting`,
 * `delayed`, `active`, `progress`) and a last one, `completed` or `failed` with the outcome, or
 * `removed`, after which the stream ends. Comment lines are sent every SSE_HEARTBEAT_MS. Streams
 * end when the client goes away and when the producer closes.
 */
export const jobEventRoutes: FastifyPluginCallbackZod<JobEventRoutesOptions> = (
  app,
  { config, client },
  done,
) => {
  const open = new Set<(shutdown: boolean) => void>();

  // Before the server stops accepting: an open stream would otherwise hold close() forever.
  app.addHook('preClose', (next) => {
    for (const end of [...open]) end(true);
    next();
  });

  app.get(
    '/v1/jobs/:id/events',
    { schema: { params: JobParamsSchema } },
    async (request, reply) => {
      const { id } = request.params;
      const record = await readJob(client, id);
      if (!record || !mayReadJob(request, record)) throw jobNotFound(id);
      // Through the SDK's shared listener: the current state first, then each change.
      const events = client.job(id).events();
      const unsubscribe = () => void events.return?.();

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        // The socket ends with the stream: a keep-alive socket left idle by a stream that the
        // shutdown ended would hold the server's close() until the client drops it.
        connection: 'close',
        'x-accel-buffering': 'no',
        [JOB_ID_HEADER]: id,
      });
      let sequence = 0;
      let ended = false;
      let last: JobState = record.state;
      const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), config.SSE_HEARTBEAT_MS);
      const end = (shutdown = false) => {
        if (ended) return;
        ended = true;
        clearInterval(heartbeat);
        unsubscribe();
        open.delete(end);
        // On shutdown the socket goes too, even if the client stopped reading it.
        res.end(() => {
          if (shutdown) res.destroy();
        });
      };
      open.add(end);
      res.on('close', () => end());
      const send = (event: string, data: unknown) => {
        if (ended) return;
        res.write(`id: ${++sequence}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      const finish = (event: string, data: unknown) => {
        send(event, data);
        end();
      };
      const fail = (error: unknown) => {
        request.log.warn({ err: error, jobId: id }, 'job event stream failed');
        const code = isConveyorError(error) ? error.code : 'ERR_INTERNAL';
        const message = isConveyorError(error) ? error.message : 'internal error';
        finish('error', errorBody({ code, message, jobId: id }));
      };

      /** A finished job's outcome, read once through its handle. */
      const finishRead = async () => {
        const now = await readJob(client, id);
        const outcome = now && outcomeOf(now);
        if (!outcome) return finish('removed', { job_id: id });
        finish(outcome.status, outcome);
      };
      const onEvent = (event: JobEvent) => {
        if (event.type === 'progress')
          return send('progress', { job_id: id, progress: event.progress });
        // Events that raced the first read may repeat the state it already reported.
        if (event.state === last) return;
        last = event.state;
        if (event.state === 'completed' || event.state === 'failed') return finishRead();
        if (event.state === 'unknown') return finish('removed', { job_id: id });
        return send(event.state, { job_id: id, state: event.state });
      };

      try {
        send('state', statusBody(record));
        const outcome = outcomeOf(record);
        if (outcome) return finish(outcome.status, outcome);
      } catch (error) {
        return fail(error);
      }
      void (async () => {
        for await (const event of events) {
          if (ended) break;
          await onEvent(event);
        }
      })().catch(fail);
    },
  );

  done();
};
