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
    });

/** A no-op task: its answer proves a thread of the pool takes tasks (see InferencePool.ping). */
export interface PingTask {
  kind: 'ping';
}

/** What an inference thread answers; errors travel as plain data. */
export type InferenceReply =
  | { ok: true; kind: 'describe'; inputs: RuntimeTensorSpec[]; outputs: RuntimeTensorSpec[] }
  | { ok: true; kind: 'run'; outputs: Record<string, Tensor>; ms: number }
  | { ok: true; kind: 'ping' }
  | { ok: false; error: { code: ErrorCode; message: string; details: Record<string, unknown> } };
