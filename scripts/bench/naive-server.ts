/**
 * What a user would write instead of a queue: an HTTP server that runs the model inline in its
 * request handler, on its own event loop. onnxruntime-node's run() blocks that loop for each
 * inference, so requests wait in the socket backlog. Environment: MODEL_PATH, PORT,
 * ROW_SHAPE.
 */
import { createServer } from 'node:http';
import { openSession } from '@conveyor/engine';
import { SessionConfigSchema, createTensor, toRows, type Dtype } from '@conveyor/shared';

const session = await openSession(process.env.MODEL_PATH ?? '', SessionConfigSchema.parse({}));
const input = session.inputs[0];
const output = session.outputs[0];
if (!input || !output) throw new Error('the model needs an input and an output');
// One row's shape, e.g. 3,48,192 (onnxruntime may report free dimensions).
const shape = (process.env.ROW_SHAPE ?? '').split(',').map(Number);

const server = createServer((request, response) => {
  const parts: Buffer[] = [];
  request.on('data', (chunk: Buffer) => parts.push(chunk));
  request.on('end', () => {
    void (async () => {
      try {
        // The image as raw little-endian float32 bytes, as the benchmark's burst sends it.
        const raw = Buffer.concat(parts);
        const floats = new Float32Array(raw.byteLength / 4);
        new Uint8Array(floats.buffer).set(raw);
        const tensor = createTensor(input.dtype as Dtype, [1, ...shape], floats);
        const { outputs } = await session.run({ [input.name]: tensor }, [output.name]);
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
// The same accept backlog as Conveyor's producer (PRODUCER_BACKLOG), for a fair comparison.
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', 4096, () => {
  process.stdout.write('naive server ready\n');
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
