/**
 * The queue's own limit: a BullMQ worker on a model's queue whose processor returns a constant,
 * valid result at once, with no decoding and no inference. It announces the model's signature, as a
 * Conveyor worker does, so that the SDK drives it exactly as it drives the real one. Environment:
 * REDIS_URL, REDIS_KEY_PREFIX, MODEL (a folder of MODEL_REPOSITORY), WORKER_CONCURRENCY.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import {
  JOB_PAYLOAD_VERSION,
  ModelSignatureSchema,
  catalogueKey,
  createTensor,
  encodeTensor,
  queueName,
  redisOptions,
  type JobResult,
  queuePrefix,
} from '@conveyor/shared';

const env = process.env;
const model = env.MODEL ?? 'iris';
const prefix = env.REDIS_KEY_PREFIX ?? 'conveyor';
// The model's model.json must declare its inputs and outputs in full (iris's does).
const declared = JSON.parse(
  await readFile(join(env.MODEL_REPOSITORY ?? 'models', model, '1', 'model.json'), 'utf8'),
) as { inputs?: unknown; outputs?: unknown };
const config = ModelSignatureSchema.parse({
  name: model,
  version: '1',
  inputs: declared.inputs,
  outputs: declared.outputs,
});
const output = config.outputs[0];
if (!output) throw new Error(`${model} has no output`);
const shape = output.shape.map((d) => (d === -1 ? 1 : d));
const result: JobResult = {
  v: JOB_PAYLOAD_VERSION,
  model,
  version: '1',
  outputs: {
    [output.name]: encodeTensor(
      createTensor('float32', shape, new Float32Array(shape.reduce((n, d) => n * d, 1))),
    ),
  },
  timings: { queuedMs: 0, inferenceMs: 0 },
};

const connection = new Redis(
  env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  redisOptions('worker', 'conveyor-bench-noop'),
);
await connection.hset(
  catalogueKey(prefix),
  `${model}@1`,
  JSON.stringify({ name: model, version: '1', inputs: config.inputs, outputs: config.outputs }),
);
const worker = new Worker(queueName(model, '1'), () => Promise.resolve(result), {
  connection,
  prefix: queuePrefix(prefix, queueName(model, '1')),
  // As many as a Conveyor worker holds of iris by default.
  concurrency: Number(env.WORKER_CONCURRENCY ?? 64),
});
await worker.waitUntilReady();
process.stdout.write('noop worker ready\n');
process.once('SIGTERM', () => {
  void worker
    .close()
    .then(() => connection.quit())
    .then(() => process.exit(0));
});
