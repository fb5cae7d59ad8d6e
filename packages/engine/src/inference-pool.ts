import { Piscina } from 'piscina';
import { ConveyorError } from '@conveyor/shared';
import type { InferenceReply, InferenceTask, PingTask } from './inference-task.js';
import { runOnCaller } from './inline-run.js';
import type { ModelSession } from './session.js';

/** A pool of threads that run onnxruntime sessions. */
export interface InferencePool {
  /**
   * Runs a task on a free thread. With `transfer`, the inputs' buffers move to the thread and are
   * unusable afterwards; only pass it for buffers nobody else holds.
   */
  run(task: InferenceTask, transfer?: boolean): Promise<InferenceReply & { ok: true }>;
  readonly threads: number;
  /** Whether tasks go to a session on the calling thread (see `runInline`) instead of threads. */
  readonly inline: boolean;
  /**
   * From now on runs every task on `session`, on the calling thread, and closes the threads,
   * which nothing needs any more. The pool releases the session on close.
   */
  runInline(session: ModelSession): Promise<void>;
  /**
   * Sends a no-op task to a thread of the pool; resolves when one answers. It waits behind the
   * tasks already running (the batcher keeps at most one per thread), so it proves the threads
   * take tasks. A ping still unanswered is shared by the next calls instead of queueing another.
   * Resolves at once for a pool that runs on the calling thread.
   */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Tasks sent to a thread at once: the one it runs and the next, which waits in its message queue
 * and starts as soon as the first ends. With one, a thread idled from the end of each call until
 * this event loop, busy reading jobs from Redis, took the reply and sent the next call: a third of
 * the image model's time in a worker.
 */
export const TASKS_PER_THREAD = 2;

// From the sources (development, tests) this module is a .ts file, and the thread starts at a
// module that loads tsx first; built, it is .js, and so is the thread.
const threadFile = new URL(
  import.meta.url.endsWith('.ts') ? './inference-thread-sources.mjs' : './inference-thread.js',
  import.meta.url,
);

/**
 * A pool of `threads` inference threads. 0 runs every task on the calling thread instead: each
 * run() then blocks the event loop for the whole inference. It exists to be measured against
 * (`pnpm bench`), not to be used in a worker that talks to Redis.
 */
export function createInferencePool(threads: number): InferencePool {
  if (threads === 0) return inlinePool();
  const pool = new Piscina<InferenceTask | PingTask, InferenceReply>({
    filename: threadFile.href,
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: TASKS_PER_THREAD,
    // Queue without limit: BullMQ concurrency already bounds what a worker takes.
    idleTimeout: Number.POSITIVE_INFINITY,
  });
  let inline: ModelSession | undefined;
  let pinging: Promise<void> | undefined;
  return {
    threads,
    get inline() {
      return inline !== undefined;
    },
    async runInline(session) {
      inline = session;
      await pool.destroy();
    },
    async run(task, transfer = false) {
      if (inline) return runOnCaller(inline, task);
      const transferList =
        transfer && task.kind === 'run'
          ? [
              ...new Set(
                Object.values(task.inputs).flatMap((t) =>
                  ArrayBuffer.isView(t.data) ? [t.data.buffer] : [],
                ),
              ),
            ]
          : [];
      const reply = await pool.run(task, { transferList: transferList as ArrayBuffer[] });
      if (!reply.ok)
        throw new ConveyorError(reply.error.code, reply.error.message, {
          details: reply.error.details,
        });
      return reply;
    },
    ping() {
      if (inline) return Promise.resolve();
      pinging ??= pool
        .run({ kind: 'ping' })
        .then(() => undefined)
        .finally(() => (pinging = undefined));
      return pinging;
    },
    async close() {
      if (inline) await inline.release();
      else await pool.destroy();
    },
  };
}

function inlinePool(): InferencePool {
  const handler = import(threadFile.href) as Promise<{
    default: (task: InferenceTask) => Promise<InferenceReply>;
  }>;
  return {
    threads: 0,
    inline: true,
    runInline: () => Promise.resolve(),
    ping: () => Promise.resolve(),
    async run(task) {
      const reply = await (await handler).default(task);
      if (!reply.ok)
        throw new ConveyorError(reply.error.code, reply.error.message, {
          details: reply.error.details,
        });
      return reply;
    },
    close: () => Promise.resolve(),
  };
}
