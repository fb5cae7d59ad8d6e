import { toConveyorError, type Tensor } from '@conveyor/shared';
import { concatRows, rowsOf, viewRows } from './batch-rows.js';
import type { InferenceReply, InferenceTask, ProcessingTask } from './inference-task.js';
import { createProcessor, type Processor } from './processing/processor.js';
import { createStepContext } from './processing/step-context.js';
import type { ModelSession } from './session.js';

// Steps are built once per session: a session lives as long as its thread keeps the model open.
const processors = new WeakMap<ModelSession, Promise<Processor | undefined>>();

function processorFor(session: ModelSession, task: ProcessingTask): Promise<Processor | undefined> {
  let processor = processors.get(session);
  if (!processor) {
    const context = createStepContext(task.versionDir, { maxTensorBytes: task.maxTensorBytes });
    processor = createProcessor(task.config, session, context);
    processor.catch(() => processors.delete(session));
    processors.set(session, processor);
  }
  return processor;
}

/**
 * What a run task's onnxruntime calls gave: outputs, the ms of the calls summed (a processed
 * version's steps included), and their number.
 */
interface Ran {
  outputs: Record<string, Tensor>;
  ms: number;
  calls: number;
}

/**
 * Preprocess, run and postprocess on this thread; `ms` counts all three: the steps as they took
 * (they may wait on sharp's threads), the run as onnxruntime's own time.
 */
async function runProcessed(
  session: ModelSession,
  task: InferenceTask & { kind: 'run' },
  processing: ProcessingTask,
): Promise<Ran> {
  const processor = await processorFor(session, processing);
  if (!processor) return { ...(await session.run(task.inputs, task.outputs)), calls: 1 };
  const preStarted = performance.now();
  const prepared = await processor.preprocess(task.inputs, processing.pieces, processing.warmup);
  const preMs = performance.now() - preStarted;
  const raw = await session.run(prepared.inputs, processor.modelOutputs(task.outputs));
  const postStarted = performance.now();
  const outputs = await processor.postprocess(prepared, raw.outputs, task.outputs);
  return { outputs, ms: preMs + raw.ms + performance.now() - postStarted, calls: 1 };
}

/**
 * Runs the inputs in consecutive calls of at most `chunkRows` rows (views on the inputs, no copy)
 * and joins each output's parts along the first dimension. The first failing call fails the task.
 */
async function runChunked(
  session: ModelSession,
  inputs: Record<string, Tensor>,
  outputs: string[],
  chunkRows: number,
): Promise<Ran> {
  const first = Object.values(inputs)[0];
  const rows = first ? rowsOf(first) : 1;
  const parts: Record<string, Tensor>[] = [];
  let ms = 0;
  for (let from = 0; from < rows; from += chunkRows) {
    const size = Math.min(chunkRows, rows - from);
    const chunk: Record<string, Tensor> = {};
    for (const [name, tensor] of Object.entries(inputs)) chunk[name] = viewRows(tensor, from, size);
    const ran = await session.run(chunk, outputs);
    parts.push(ran.outputs);
    ms += ran.ms;
  }
  const joined: Record<string, Tensor> = {};
  for (const name of outputs) joined[name] = concatRows(parts.map((p) => p[name] as Tensor));
  return { outputs: joined, ms, calls: parts.length };
}

/** The task's run: processed, chunked, or one plain call. */
async function runTask(session: ModelSession, task: InferenceTask & { kind: 'run' }): Promise<Ran> {
  if (task.processing) return runProcessed(session, task, task.processing);
  const first = Object.values(task.inputs)[0];
  if (
    task.chunkRows !== undefined &&
    task.chunkRows >= 1 &&
    first &&
    rowsOf(first) > task.chunkRows
  )
    return runChunked(session, task.inputs, task.outputs, task.chunkRows);
  return { ...(await session.run(task.inputs, task.outputs)), calls: 1 };
}

/**
 * Runs a task on a session of the calling thread: what an inference thread does with each task
 * (inference-thread.ts), and what the engine calls directly for an inline version, without the
 * hop (no structured clone of inputs and outputs, no message round trip). onnxruntime-node's run()
 * blocks this thread for the whole inference, so only tiny models run inline; a chunked task yields
 * between its calls (each run() starts on a setImmediate), as separate calls would.
 */
export async function runOnCaller(
  session: ModelSession,
  task: InferenceTask,
): Promise<InferenceReply & { ok: true }> {
  if (task.kind === 'describe')
    return {
      ok: true,
      kind: 'describe',
      inputs: [...session.inputs],
      outputs: [...session.outputs],
    };
  try {
    return { ok: true, kind: 'run', ...(await runTask(session, task)) };
  } catch (error) {
    // Whatever the runtime throws here reaches the caller as a typed error, as a thread's reply would.
    throw toConveyorError(error, 'ERR_INFERENCE_FAILED');
  }
}
