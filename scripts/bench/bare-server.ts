/**
 * The HTTP ingest limit of scenario 9: a bare fastify server whose handler reads the same body
 * Conveyor's producer gets (JSON or OIP binary, as a buffer) and answers 202 with a job address,
 * doing nothing else. Loopback only. Environment: PORT.
 */
import { randomUUID } from 'node:crypto';
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
    handler: (request: { body: Buffer; params: { name: string } }, reply: Reply) => void,
  ): void;
  listen(options: { port: number; host: string; backlog: number }): Promise<string>;
  close(): Promise<void>;
}

const require = createRequire(join(ROOT, 'apps', 'producer', 'package.json'));
const fastify = require('fastify') as (options: { logger: boolean; bodyLimit: number }) => Server;
const BODY_LIMIT = 16 * 1024 * 1024;

const app = fastify({ logger: false, bodyLimit: BODY_LIMIT });
for (const type of ['application/json', 'application/octet-stream']) {
  app.addContentTypeParser(
    type,
    { parseAs: 'buffer', bodyLimit: BODY_LIMIT },
    (_request, body, done) => done(null, body),
  );
}
app.post('/v2/models/:name/infer', (request, reply) => {
  const id = randomUUID();
  reply
    .code(202)
    .header('location', `/v1/jobs/${id}`)
    .send({ id, model: request.params.name, bytes: request.body.byteLength });
});
// The same accept backlog as Conveyor's producer (PRODUCER_BACKLOG).
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1', backlog: 4096 });
process.stdout.write('bare server ready\n');
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
