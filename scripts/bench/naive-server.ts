/**
 * What a user would write instead of a queue: an HTTP server that runs the model inline in its
 * request handler, on its own event loop. onnxruntime-node's run() blocks that loop for each
 * inference, so requests wait in the socket backlog. Environment: MODEL_PATH, PORT.
 */
import { createServer } from 'node:http';
import { openSession } from '@conveyor/engine';
import { SessionConfigSchema, createTensor, toRows, type Dtype } from '@conveyor/shared';

const session = await openSession(process.env.MODEL_PATH ?? '', SessionConfigSchema.parse({}));
const input = session.inputs[0];
const output = session.outputs[0];
if (!input || !output) throw new Error('the model needs an input and an output');

const server = createServer((request, response) => {
  const parts: Buffer[] = [];
  request.on('data', (chunk: Buffer) => parts.push(chunk));
  request.on('end', () => {
    void (async () => {
      try {
        const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as {
          shape: number[];
          data: number[];
        };
        const tensor = createTensor(input.dtype as Dtype, body.shape, Float32Array.from(body.data));
        const outputs = await session.run({ [input.name]: tensor }, [output.name]);
        const result = outputs[output.name];
        if (!result) throw new Error(`no output ${output.name}`);
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ outputs: toRows(result) }));
      } catch (error) {
        response.writeHead(400, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: String(error) }));
      }
    })();
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write('naive server ready\n');
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
