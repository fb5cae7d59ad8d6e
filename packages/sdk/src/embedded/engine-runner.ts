import type { Engine, EngineOptions } from '@conveyor/engine';
import type { Logger } from '@conveyor/shared';
import type { Prediction } from '../client.js';
import type { PreparedJob } from '../request.js';
import type { ResolvedEmbeddedClientOptions } from './options.js';

/** Loads the engine of an embedded client. */
export async function openEngine(
  config: ResolvedEmbeddedClientOptions,
  logger: Logger,
): Promise<Engine> {
  // Loaded here, not at the top: an application that only uses the queue never loads onnxruntime.
  const { createEngine } = await import('@conveyor/engine');
  const options: EngineOptions = {
    repository: config.repository,
    maxTensorBytes: config.maxTensorBytes,
    inlineBelowMs: config.inlineBelowMs,
    logger,
  };
  if (config.models) options.models = config.models;
  if (config.threads !== undefined) options.threads = config.threads;
  return createEngine(options);
}

/** One attempt of a job on the engine, as a prediction with the queue's timings. */
export async function runOnEngine(
  engine: Engine,
  job: PreparedJob,
  enqueuedAt: number,
  takenAt: number,
): Promise<Prediction> {
  const started = performance.now();
  const outcome = await engine.predict({
    model: job.model,
    version: job.signature.version,
    inputs: job.tensors,
    outputs: job.outputs,
  });
  return {
    jobId: job.jobId,
    model: outcome.model,
    version: outcome.version,
    outputs: outcome.outputs,
    timings: {
      queuedMs: Math.max(0, takenAt - enqueuedAt),
      inferenceMs: performance.now() - started,
      runMs: outcome.runMs,
    },
  };
}
