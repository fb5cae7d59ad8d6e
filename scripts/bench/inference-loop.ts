/**
 * onnxruntime-node running a model over and over, with no queue: the inference beside scenario 8's
 * plain BullMQ image turns, so that they move their bytes while a core runs the model, as a
 * Conveyor worker's inference thread does. Calls of BATCH rows of ROW_SHAPE float32 values, one
 * intra-op thread, every thread at NICE (a Conveyor worker's priority, WORKER_NICE). It prints
 * "inference loop ready" after a first call; on SIGTERM it ends its call and prints one JSON line,
 * `{"msg":"inference loop stopped","rows":...,"cpuSeconds":...}`: the rows it ran since it was
 * ready and the CPU seconds its threads used meanwhile. Environment: MODEL_PATH, ROW_SHAPE, BATCH,
 * NICE.
 */
import { loadOrt, niceEveryThread } from './ort.js';

const env = process.env;
const ort = loadOrt();
const rowShape = (env.ROW_SHAPE ?? '').split(',').map(Number);
const batch = Number(env.BATCH ?? 16);
const session = await ort.InferenceSession.create(env.MODEL_PATH ?? '', { intraOpNumThreads: 1 });
const [name] = session.inputNames;
if (!name) throw new Error(`${env.MODEL_PATH} has no input`);
const values = rowShape.reduce((a, b) => a * b, 1);
// Rows of a constant: the model's CPU per call does not depend on what the pixels are.
const feeds = {
  [name]: new ort.Tensor('float32', new Float32Array(values * batch).fill(0.5), [
    batch,
    ...rowShape,
  ]),
};
await session.run(feeds);
if (env.NICE) niceEveryThread(Number(env.NICE));
let stopping = false;
process.once('SIGTERM', () => {
  stopping = true;
});
process.stdout.write('inference loop ready\n');
const since = process.cpuUsage();
let rows = 0;
while (!stopping) {
  await session.run(feeds);
  rows += batch;
  // A turn of the event loop between calls, so that SIGTERM is seen.
  await new Promise((resolve) => setImmediate(resolve));
}
const used = process.cpuUsage(since);
process.stdout.write(
  `${JSON.stringify({ msg: 'inference loop stopped', rows, cpuSeconds: (used.user + used.system) / 1e6 })}\n`,
);
await session.release();
process.exit(0);
