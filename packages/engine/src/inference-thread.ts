/**
 * A thread of the inference pool. onnxruntime-node's run() blocks the thread it runs on, so
 * sessions live here, off the thread that talks to Redis and HTTP. Each thread opens a model
 * once, on first use, and keeps it.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { toConveyorError, type Tensor } from '@conveyor/shared';
import { openSession, type ModelSession } from './session.js';
import type { InferenceReply, InferenceTask, PingTask } from './inference-task.js';
import { runOnCaller } from './inline-run.js';

const sessions = new Map<string, Promise<ModelSession>>();

function sessionFor(task: InferenceTask): Promise<ModelSession> {
  let session = sessions.get(task.modelPath);
  if (!session) {
    session = openSession(task.modelPath, task.session);
    // A failed load is not cached: the next task tries again (the file may have been fixed).
    session.catch(() => sessions.delete(task.modelPath));
    sessions.set(task.modelPath, session);
  }
  return session;
}

/** The inputs' buffers that no output shares: free for the caller to reuse once moved back. */
function unshared(inputs: Record<string, Tensor>, outputs: Record<string, Tensor>): ArrayBuffer[] {
  const used = new Set<ArrayBufferLike>();
  for (const name in outputs) {
    const { data } = outputs[name] as Tensor;
    if (ArrayBuffer.isView(data)) used.add(data.buffer);
  }
  const free = new Set<ArrayBuffer>();
  for (const name in inputs) {
    const { data } = inputs[name] as Tensor;
    if (ArrayBuffer.isView(data) && data.buffer instanceof ArrayBuffer && !used.has(data.buffer))
      free.add(data.buffer);
  }
  return [...free];
}

export default async function handle(
  task: InferenceTask | PingTask,
): Promise<InferenceReply | ReturnType<typeof move>> {
  // Answered at once: it proves the thread takes tasks, and opens no session.
  if (task.kind === 'ping') return { ok: true, kind: 'ping' };
  try {
    const reply = await runOnCaller(await sessionFor(task), task);
    if (task.kind !== 'run' || !task.returnInputs || reply.kind !== 'run') return reply;
    // onnxruntime is done with the inputs: their buffers go back to be filled again.
    const returned = unshared(task.inputs, reply.outputs);
    return move({ [transferableSymbol]: returned, [valueSymbol]: { ...reply, returned } });
  } catch (error) {
    // Errors lose their own properties when cloned across threads; send the code explicitly.
    const known = toConveyorError(error, 'ERR_INFERENCE_FAILED');
    return {
      ok: false,
      error: { code: known.code, message: known.message, details: { ...known.details } },
    };
  }
}
