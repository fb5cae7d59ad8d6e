/**
 * onnxruntime-node itself, without Conveyor's engine: the baseline of the embedded and offline
 * scenarios. It is a dependency of @conveyor/engine only, so it is resolved from there.
 */
import { createRequire } from 'node:module';
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
    create(path: string, options?: { intraOpNumThreads?: number }): Promise<RawSession>;
  };
}

/** Loads onnxruntime-node as @conveyor/engine resolves it. */
export function loadOrt(): RawOrt {
  const require = createRequire(join(ROOT, 'packages', 'engine', 'package.json'));
  return require('onnxruntime-node') as RawOrt;
}
