import { toConveyorError, type Tensor } from '@conveyor/shared';
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

/** Preprocess, run and postprocess on this thread; `ms` counts all three, the thread's time. */
async function runProcessed(
  session: ModelSession,
  task: InferenceTask & { kind: 'run' },
  processing: ProcessingTask,
): Promise<Record<string, Tensor>> {
  const processor = await processorFor(session, processing);
  if (!processor) return session.run(task.inputs, task.outputs);
  const prepared = await processor.preprocess(task.inputs, processing.pieces, processing.warmup);
  const raw = await session.run(prepared.inputs, processor.modelOutputs(task.outputs));
  return processor.postprocess(prepared, raw, task.outputs);
}

/**
 * Runs a task on a session of the calling thread: what an inference thread does with each task
 * (inference-thread.ts), and what the engine calls directly for an inline version, without the
 * hop (no structured clone of inputs and outputs, no message round trip). onnxruntime-node's run()
 * blocks this thread for the whole inference, so only tiny models run inline.
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
  const started = performance.now();
  try {
    const outputs = task.processing
      ? await runProcessed(session, task, task.processing)
      : await session.run(task.inputs, task.outputs);
    return { ok: true, kind: 'run', outputs, ms: performance.now() - started };
  } catch (error) {
    // Whatever the runtime throws here reaches the caller as a typed error, as a thread's reply would.
    throw toConveyorError(error, 'ERR_INFERENCE_FAILED');
  }
}
