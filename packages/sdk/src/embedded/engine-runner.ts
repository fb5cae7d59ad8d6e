import type { Engine, EngineOptions } from '@conveyor/engine';
import { ConveyorError, type Logger } from '@conveyor/shared';
import type { Prediction } from '../client.js';
import type { PreparedJob } from '../request.js';
import type { ResolvedEmbeddedClientOptions } from './options.js';

/** Loads the engine of an embedded client. */
export async function openEngine(
  config: ResolvedEmbeddedClientOptions,
  logger: Logger,
): Promise<Engine> {
  // Loaded here, not at the top: an application that only uses the queue never loads onnxruntime.
  const { createEngine } = await import('@conveyor/engine').catch((error: unknown) => {
    throw engineMissing(error) ?? error;
  });
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

/** `@conveyor/engine` is an optional peer of the SDK: an application installs it to run in-process. */
function engineMissing(error: unknown): ConveyorError | undefined {
  const missing =
    error instanceof Error &&
    (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' &&
    error.message.includes("'@conveyor/engine'");
  if (!missing) return undefined;
  return new ConveyorError(
    'ERR_CONFIG_INVALID',
    'the embedded client runs models with @conveyor/engine, which is not installed: npm i @conveyor/engine',
    { cause: error, details: { package: '@conveyor/engine' } },
  );
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
