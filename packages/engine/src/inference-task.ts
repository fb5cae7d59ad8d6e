import type { ErrorCode, SessionConfig, Tensor } from '@conveyor/shared';
import type { RuntimeTensorSpec } from './session.js';

interface TaskBase {
  modelPath: string;
  session: SessionConfig;
}

/** What the main thread sends an inference thread. */
export type InferenceTask =
  | (TaskBase & { kind: 'describe' })
  | (TaskBase & { kind: 'run'; inputs: Record<string, Tensor>; outputs: string[] });

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
