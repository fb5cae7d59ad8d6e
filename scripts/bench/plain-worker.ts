/**
 * A BullMQ worker with no Conveyor code: its processor returns a constant at once (RETURN, a JSON
 * value, or 0), or with BYTES=1 first takes the bytes its job names (GETDEL, the fewest commands
 * that read and drop them), or with BYTES_PREFIX reads the bytes under it and the job's id (GET)
 * and deletes them once BullMQ has recorded the job's completion, as a Conveyor worker keeps a
 * job's stored inputs for a retry until then. The other half of scenario 8. With MODEL_PATH as
 * well, it runs that model on the bytes' last ROW_SHAPE float32 values (the image at the end of an
 * OIP binary request), with onnxruntime-node on its main thread; with NICE it first lowers the
 * priority of every thread it has, as a Conveyor worker does (WORKER_NICE): the plain pipeline of
 * scenario 5.
 * Environment: REDIS_URL, QUEUE, PREFIX, WORKER_CONCURRENCY, BYTES, BYTES_PREFIX, RETURN,
 * MODEL_PATH, ROW_SHAPE, NICE.
 */
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { loadOrt, niceEveryThread } from './ort.js';

const env = process.env;
const connection = new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
  maxRetriesPerRequest: null,
});
const returned: unknown = JSON.parse(env.RETURN || '0');
const takeBytes = async (job: Job<{ key: string }>) => {
  const bytes = await connection.getdelBuffer(job.data.key);
  if (bytes === null) throw new Error(`no bytes at ${job.data.key}`);
  return bytes;
};
const keptKey = (job: Job) => `${env.BYTES_PREFIX}${job.id}`;
const readKept = async (job: Job) => {
  if ((await connection.getBuffer(keptKey(job))) === null)
    throw new Error(`no bytes at ${keptKey(job)}`);
  return returned;
};
const processor = env.MODEL_PATH
  ? await modelRunner(env.MODEL_PATH, (env.ROW_SHAPE ?? '').split(',').map(Number))
  : env.BYTES === '1'
    ? async (job: Job<{ key: string }>) => (await takeBytes(job)).length
    : env.BYTES_PREFIX
      ? readKept
      : () => Promise.resolve(returned);
if (env.NICE) niceEveryThread(Number(env.NICE));
const worker = new Worker(env.QUEUE ?? 'plain', processor, {
  connection,
  prefix: env.PREFIX ?? 'bull',
  concurrency: Number(env.WORKER_CONCURRENCY ?? 32),
});
if (env.BYTES_PREFIX) worker.on('completed', (job: Job) => void connection.del(keptKey(job)));
await worker.waitUntilReady();
process.stdout.write('plain worker ready\n');
process.once('SIGTERM', () => {
  void worker
    .close()
    .then(() => connection.quit())
    .then(() => process.exit(0));
});

/**
 * A processor that runs the model at `path` on one row of `rowShape` taken from the end of the
 * job's bytes, and returns its first output's values: onnxruntime-node called directly (loadOrt).
 */
async function modelRunner(path: string, rowShape: number[]) {
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(path, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const [input] = session.inputNames;
  const [output] = session.outputNames;
  if (!input || !output) throw new Error(`${path} needs an input and an output`);
  const values = rowShape.reduce((a, b) => a * b, 1);
  return async (job: Job<{ key: string }>) => {
    const bytes = await takeBytes(job);
    // A view of the row where the bytes allow one (float32-aligned), else a copy.
    const start = bytes.byteOffset + bytes.byteLength - values * 4;
    const floats =
      start % 4 === 0
        ? new Float32Array(bytes.buffer, start, values)
        : new Float32Array(bytes.buffer.slice(start, start + values * 4));
    const outputs = await session.run({
      [input]: new ort.Tensor('float32', floats, [1, ...rowShape]),
    });
    return Array.from(outputs[output]?.data ?? []);
  };
}
