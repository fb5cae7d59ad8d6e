/**
 * The HTTP ingest limit of scenario 9: a bare fastify server whose handler reads the same body
 * Conveyor's producer gets (JSON or OIP binary, as a buffer) and answers 202 with a job address,
 * doing nothing else. With QUEUE_REDIS_URL it first queues the body with plain BullMQ, no
 * Conveyor code: a body under 4 KiB as the job's data, a larger one stored once as bytes (SET)
 * beside a job that names them, on the same connection. With READ_JSON=1 as well, a JSON body is
 * parsed by fastify's own JSON parser (the one Conveyor's producer uses) and the parsed value is
 * the job's data: the least a server that reads JSON does. Loopback only. Environment: PORT,
 * QUEUE_REDIS_URL, QUEUE_PREFIX, READ_JSON.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from '../lib/worker-process.js';

/** The part of fastify's API used here (fastify is a dependency of the producer only). */
interface Reply {
  code(status: number): Reply;
  header(name: string, value: string): Reply;
  send(body: unknown): void;
}
interface Server {
  addContentTypeParser(
    type: string,
    options: { parseAs: 'buffer'; bodyLimit: number },
    parse: (
      request: unknown,
      body: Buffer,
      done: (error: Error | null, value: Buffer) => void,
    ) => void,
  ): void;
  post(
    path: string,
    handler: (request: { body: Buffer | object; params: { name: string } }, reply: Reply) => void,
  ): void;
  listen(options: { port: number; host: string; backlog: number }): Promise<string>;
  close(): Promise<void>;
}

const require = createRequire(join(ROOT, 'apps', 'producer', 'package.json'));
const fastify = require('fastify') as (options: { logger: boolean; bodyLimit: number }) => Server;
const BODY_LIMIT = 16 * 1024 * 1024;

const app = fastify({ logger: false, bodyLimit: BODY_LIMIT });
const readJson = process.env.READ_JSON === '1';
// fastify's own JSON parser stays when the server reads JSON.
for (const type of readJson
  ? ['application/octet-stream']
  : ['application/json', 'application/octet-stream']) {
  app.addContentTypeParser(
    type,
    { parseAs: 'buffer', bodyLimit: BODY_LIMIT },
    (_request, body, done) => done(null, body),
  );
}
const queueUrl = process.env.QUEUE_REDIS_URL;
const connection = queueUrl ? new Redis(queueUrl, { maxRetriesPerRequest: null }) : undefined;
const queues = new Map<string, Queue>();
const prefix = process.env.QUEUE_PREFIX ?? 'bare';

/** Queues the body (parsed JSON, or bytes) as a job of `model` with plain BullMQ, as fast as it goes. */
async function enqueue(model: string, id: string, body: Buffer | object): Promise<void> {
  if (!connection) return;
  let queue = queues.get(model);
  if (!queue) queues.set(model, (queue = new Queue(model, { connection, prefix })));
  const opts = { jobId: id, removeOnComplete: 10_000 };
  if (!Buffer.isBuffer(body)) {
    await queue.add('predict', body, opts);
    return;
  }
  if (body.byteLength < 4096) {
    await queue.add('predict', { body: body.toString('latin1') }, opts);
    return;
  }
  const key = `${prefix}:bytes:${id}`;
  const stored = connection.set(key, body, 'EX', 3600);
  await Promise.all([stored, queue.add('predict', { key }, opts)]);
}

app.post('/v2/models/:name/infer', (request, reply) => {
  const id = randomUUID();
  const { name } = request.params;
  enqueue(name, id, request.body).then(
    () =>
      reply
        .code(202)
        .header('location', `/v1/jobs/${id}`)
        .send({
          id,
          model: name,
          ...(Buffer.isBuffer(request.body) && { bytes: request.body.byteLength }),
        }),
    (error: unknown) => reply.code(503).send({ error: String(error) }),
  );
});
// Connected before the first request, so that no request pays for the connection.
await connection?.ping();
// The same accept backlog as Conveyor's producer (PRODUCER_BACKLOG).
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1', backlog: 4096 });
process.stdout.write('bare server ready\n');
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
