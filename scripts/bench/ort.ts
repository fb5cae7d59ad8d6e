/**
 * onnxruntime-node itself, without Conveyor's engine: the baseline of the embedded and offline
 * scenarios. It is a dependency of @conveyor/engine only, so it is resolved from there.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../lib/worker-process.js';

/** The few members of onnxruntime-node's API the bench uses. */
export interface RawTensor {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}
export interface RawSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, RawTensor>): Promise<Record<string, RawTensor>>;
  release(): Promise<void>;
}
export interface RawOrt {
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => RawTensor;
  InferenceSession: {
    create(
      path: string,
      options?: { intraOpNumThreads?: number; interOpNumThreads?: number },
    ): Promise<RawSession>;
  };
}

/** Loads onnxruntime-node as @conveyor/engine resolves it. */
export function loadOrt(): RawOrt {
  const require = createRequire(join(ROOT, 'packages', 'engine', 'package.json'));
  return require('onnxruntime-node') as RawOrt;
}

/**
 * Lowers every thread of this process to `nice`, as a Conveyor worker does (WORKER_NICE, see
 * apps/worker/src/priority.ts) with none of its code: the bench's processes that run the model
 * beside a queue. Threads started later (onnxruntime's, libuv's) inherit it.
 */
export function niceEveryThread(nice: number): void {
  for (const tid of readdirSync('/proc/self/task')) setPriority(Number(tid), nice);
}
