/**
 * @file Reused buffers for the batches a version hands to its inference threads. A joined batch is
 * copied into one of these, moved to a thread, and moved back with the thread's answer, so that
 * neither thread allocates (and later collects) a new buffer per batch: V8 counts such buffers as
 * external memory, and at an image model's rate they forced a full collection every few hundred
 * milliseconds on both threads.
 */

/** Smallest buffer handed out, in bytes: smaller batches share its size class. */
const MIN_BYTES = 4096;

/** A version's pool of staging buffers. */
export interface StagingBuffers {
  /** A buffer of at least `bytes` bytes (a power of two), new or given back earlier. */
  readonly take: (bytes: number) => ArrayBuffer;
  /** Whether `buffer` was handed out by `take`: then a thread may move it back with its answer. */
  owns(buffer: ArrayBufferLike): boolean;
  /** Takes back a buffer nothing uses any more (one `take` handed out, moved back by a thread). */
  give(buffer: ArrayBuffer): void;
}

const sizeClass = (bytes: number): number =>
  bytes <= MIN_BYTES ? MIN_BYTES : 2 ** Math.ceil(Math.log2(bytes));

/**
 * Staging buffers of a version whose calls run on `slots` threads: at most that many calls are in
 * flight, so it keeps twice that many free buffers of each size class (two inputs of one size).
 */
export function createStagingBuffers(slots: number): StagingBuffers {
  const free = new Map<number, ArrayBuffer[]>();
  // Buffers handed out: a moved buffer keeps its identity on this thread (detached) until it dies.
  const handed = new WeakSet<ArrayBufferLike>();
  return {
    take(bytes) {
      const size = sizeClass(bytes);
      const buffer = free.get(size)?.pop() ?? new ArrayBuffer(size);
      handed.add(buffer);
      return buffer;
    },
    owns: (buffer) => handed.has(buffer),
    give(buffer) {
      const size = buffer.byteLength;
      if (size !== sizeClass(size)) return;
      const list = free.get(size) ?? [];
      if (list.length < 2 * slots) list.push(buffer);
      free.set(size, list);
    },
  };
}
