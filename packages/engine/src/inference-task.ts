import type { ErrorCode, SessionConfig, Tensor } from '@conveyor/shared';
import type { ProcessingConfig } from './processing/processor.js';
import type { RuntimeTensorSpec } from './session.js';

/**
 * A version's model.json processing, sent with each run task (plain data, small): the thread
 * builds the steps once per session, preprocesses, runs and postprocesses, so no model-sized
 * tensor crosses threads.
 */
export interface ProcessingTask {
  /** The version folder: labels.txt, tokenizer.json, ... */
  versionDir: string;
  config: ProcessingConfig;
  maxTensorBytes: number;
  /** Rows of each request joined in this call, in order; default one request. */
  pieces?: number[] | undefined;
  /** Warm-up: each input step's sample replaces its input. */
  warmup?: boolean | undefined;
}

interface TaskBase {
  modelPath: string;
  session: SessionConfig;
}

/** What the main thread sends an inference thread. */
export type InferenceTask =
  | (TaskBase & { kind: 'describe' })
  | (TaskBase & {
      kind: 'run';
      inputs: Record<string, Tensor>;
      /** Outputs wanted: the model's, or with `processing` the external ones (and raw by name). */
      outputs: string[];
      processing?: ProcessingTask | undefined;
      /**
       * Run the inputs in consecutive onnxruntime calls of at most this many rows and join their
       * outputs along the first dimension (one hand-off, several calls of a capped size). Ignored
       * with `processing`, whose steps see each request whole.
       */
      chunkRows?: number | undefined;
      /**
       * Move the inputs' buffers back with the answer (staging buffers the caller reuses), except
       * any an output shares.
       */
      returnInputs?: boolean | undefined;
    });

/** A no-op task: its answer proves a thread of the pool takes tasks (see InferencePool.ping). */
export interface PingTask {
  kind: 'ping';
}

/** What an inference thread answers; errors travel as plain data. */
export type InferenceReply =
  | { ok: true; kind: 'describe'; inputs: RuntimeTensorSpec[]; outputs: RuntimeTensorSpec[] }
  | {
      ok: true;
      kind: 'run';
      outputs: Record<string, Tensor>;
      /** Milliseconds of the run: with `chunkRows`, the sum of its calls. */
      ms: number;
      /** onnxruntime calls the task made: 1 unless `chunkRows` split it. */
      calls: number;
      /** With `returnInputs`: the input buffers moved back, free to reuse. */
      returned?: ArrayBuffer[] | undefined;
    }
  | { ok: true; kind: 'ping' }
  | { ok: false; error: { code: ErrorCode; message: string; details: Record<string, unknown> } };
