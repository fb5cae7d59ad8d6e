/**
 * A thread of the inference pool. onnxruntime-node's run() blocks the thread it runs on, so
 * sessions live here, off the thread that talks to Redis and HTTP. Each thread opens a model
 * once, on first use, and keeps it.
 */
import { toConveyorError } from '@conveyor/shared';
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

export default async function handle(task: InferenceTask | PingTask): Promise<InferenceReply> {
  // Answered at once: it proves the thread takes tasks, and opens no session.
  if (task.kind === 'ping') return { ok: true, kind: 'ping' };
  try {
    return await runOnCaller(await sessionFor(task), task);
  } catch (error) {
    // Errors lose their own properties when cloned across threads; send the code explicitly.
    const known = toConveyorError(error, 'ERR_INFERENCE_FAILED');
    return {
      ok: false,
      error: { code: known.code, message: known.message, details: { ...known.details } },
    };
  }
}
