import { toConveyorError } from '@conveyor/shared';
import type { InferenceReply, InferenceTask } from './inference-task.js';
import type { ModelSession } from './session.js';

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
    const outputs = await session.run(task.inputs, task.outputs);
    return { ok: true, kind: 'run', outputs, ms: performance.now() - started };
  } catch (error) {
    // Whatever the runtime throws here reaches the caller as a typed error, as a thread's reply would.
    throw toConveyorError(error, 'ERR_INFERENCE_FAILED');
  }
}
