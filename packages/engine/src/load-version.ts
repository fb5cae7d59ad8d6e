import {
  ConveyorError,
  DEFAULT_MAX_TENSOR_BYTES,
  silentLogger,
  toConveyorError,
  type Logger,
  type Tensor,
} from '@conveyor/shared';
import { rowsOf } from './batch-rows.js';
import { createBatcher, type Batcher, type RunFn } from './batcher.js';
import { hasBatchAxis } from './infer-signature.js';
import { createInferencePool, TASKS_PER_THREAD, type InferencePool } from './inference-pool.js';
import type { InferenceTask, ProcessingTask } from './inference-task.js';
import { externalSignature } from './processing/external-signature.js';
import { createProcessor } from './processing/processor.js';
import { createStepContext } from './processing/step-context.js';
import { issuesError, issuesOf } from './model-problem.js';
import type { ModelEntry } from './model-repository.js';
import { pipelineServed } from './pipeline/pipeline-served.js';
import type { ServedModel } from './served-model.js';
import { reconcileSignature, type RuntimeSignature } from './signature.js';
import { createStagingBuffers, type StagingBuffers } from './staging-buffers.js';
import { planWarmup, warmUp, type WarmupOutcome } from './warm-up.js';

/** A version loaded on its own inference threads, with the batcher requests go through. */
export interface LoadedVersion {
  readonly served: ServedModel;
  readonly batcher: Batcher;
  readonly pool: InferencePool;
}

export interface LoadOptions {
  /** Inference threads when model.json sets none. Default 1. */
  threads?: number;
  /** Largest tensor a processing step may make, in bytes. Default 64 MiB. */
  maxTensorBytes?: number | undefined;
  /** Whether to run the warm-up model.json asks for. Default true. */
  warmup?: boolean;
  logger?: Logger;
  /** Told of every onnxruntime call that serves requests (not the warm-up's), once it succeeded. */
  onRun?: ((run: InferenceRun) => void) | undefined;
}

/** One onnxruntime call of a served version: a batch of `rows` rows that ran for `ms` on its thread. */
export interface InferenceRun {
  readonly model: string;
  readonly version: string;
  readonly rows: number;
  readonly ms: number;
}

/**
 * Tells `onRun` of each call `run` makes, with the rows of its first input; a run in chunks is
 * told as its calls (of `chunkRows` rows, the last of what is left), each at their mean ms.
 */
function observed(run: RunFn, entry: ModelEntry, onRun: (run: InferenceRun) => void): RunFn {
  const { name: model, version } = entry;
  return async (inputs, outputs, transfer, pieces, chunkRows) => {
    const first = Object.values(inputs)[0];
    // As the batcher counts them.
    const rows = first ? rowsOf(first) : 1;
    const result = await run(inputs, outputs, transfer, pieces, chunkRows);
    const calls = result.calls ?? 1;
    const size = calls > 1 && chunkRows ? chunkRows : rows;
    for (let call = 0; call < calls; call++)
      onRun({ model, version, rows: Math.min(size, rows - call * size), ms: result.ms / calls });
    return result;
  };
}

async function describe(pool: InferencePool, entry: ModelEntry): Promise<RuntimeSignature> {
  const reply = await pool.run({
    kind: 'describe',
    modelPath: entry.modelPath,
    session: entry.config.session,
  });
  if (reply.kind !== 'describe')
    throw new ConveyorError('ERR_INTERNAL', 'describe answered with a run reply');
  return { inputs: reply.inputs, outputs: reply.outputs };
}

/** The processing a version's run tasks carry, when model.json has steps. */
export function processingTask(
  entry: ModelEntry,
  maxTensorBytes = DEFAULT_MAX_TENSOR_BYTES,
): ProcessingTask | undefined {
  const { preprocess, postprocess } = entry.config;
  if (!preprocess && !postprocess) return undefined;
  return { versionDir: entry.dir, config: { preprocess, postprocess }, maxTensorBytes };
}

/** Whether a moved input is a staging buffer, which the thread should move back. */
const staged = (inputs: Record<string, Tensor>, staging: StagingBuffers | undefined): boolean =>
  staging !== undefined &&
  Object.values(inputs).some((t) => ArrayBuffer.isView(t.data) && staging.owns(t.data.buffer));

function runnerOf(
  pool: InferencePool,
  entry: ModelEntry,
  processing: ProcessingTask | undefined,
  staging?: StagingBuffers,
): RunFn {
  const { modelPath } = entry;
  const { session } = entry.config;
  return async (inputs, outputs, transfer, pieces, chunkRows) => {
    // Built field by field: a conditional spread per field showed in the profile of tiny models.
    const task: InferenceTask & { kind: 'run' } = {
      kind: 'run',
      modelPath,
      session,
      inputs,
      outputs,
    };
    if (processing) task.processing = { ...processing, pieces };
    else if (chunkRows !== undefined) task.chunkRows = chunkRows;
    if (transfer && staged(inputs, staging)) task.returnInputs = true;
    const result = await pool.run(task, transfer);
    if (result.kind !== 'run')
      throw new ConveyorError('ERR_INTERNAL', 'run answered with a describe reply');
    if (result.returned) for (const buffer of result.returned) staging?.give(buffer);
    return { outputs: result.outputs, ms: result.ms, calls: result.calls };
  };
}

async function start(
  entry: ModelEntry,
  pool: InferencePool,
  options: LoadOptions,
): Promise<LoadedVersion> {
  const log = (options.logger ?? silentLogger()).child({
    model: entry.name,
    version: entry.version,
  });
  const runtime = await describe(pool, entry);
  const reconciled = reconcileSignature(entry, runtime);
  if (reconciled.issues.length > 0) throw issuesError(entry.dir, reconciled.issues);
  const processing = processingTask(entry, options.maxTensorBytes);
  // Built here too, for the signature clients see (and to refuse a bad config at load).
  const processor =
    processing &&
    (await createProcessor(
      processing.config,
      runtime,
      createStepContext(entry.dir, { log, maxTensorBytes: processing.maxTensorBytes }),
    ));
  const { signature, defaultOutputs } = processor
    ? externalSignature(reconciled.signature, processor)
    : { signature: reconciled.signature, defaultOutputs: undefined };
  const warmup = planWarmup(signature, runtime, entry.config.warmup);
  if (warmup.issues.length > 0) throw issuesError(entry.dir, warmup.issues);
  // Only threads move buffers back; a version on the calling thread joins into new ones.
  const staging =
    pool.threads > 0 ? createStagingBuffers(pool.threads * TASKS_PER_THREAD) : undefined;
  const run = runnerOf(pool, entry, processing, staging);
  const warmRun = runnerOf(pool, entry, processing && { ...processing, warmup: true });
  const outcome: WarmupOutcome | { ms?: undefined; reason?: undefined } =
    options.warmup !== false && entry.config.warmup !== false
      ? await warmUp(warmup.plan, signature, pool.threads, warmRun)
      : {};
  if (outcome.reason !== undefined)
    log.warn({ reason: outcome.reason }, 'warm-up failed; serving the model degraded');
  const served: ServedModel = {
    entry,
    signature,
    runtime,
    threads: pool.threads,
    batchable: hasBatchAxis(signature) && entry.config.batching.maxBatchSize > 1,
    ...(defaultOutputs && { defaultOutputs }),
    warmupMs: outcome.ms,
    state: outcome.reason === undefined ? 'ready' : 'degraded',
    ...(outcome.reason !== undefined && { stateReason: outcome.reason }),
  };
  const batcher = createBatcher({
    ...entry.config.batching,
    slots: Math.max(1, pool.threads),
    // Each thread holds its next call while it runs one (see TASKS_PER_THREAD).
    queued: pool.threads * (TASKS_PER_THREAD - 1),
    batchable: served.batchable,
    // Processing steps see each request whole: their versions' hand-offs stay one call each.
    chunkable: processing === undefined,
    run: options.onRun ? observed(run, entry, options.onRun) : run,
    staging,
    log,
    gatherTurn: true,
  });
  return { served, batcher, pool };
}

/**
 * Loads a version on a pool of its own inference threads: checks model.json against what
 * onnxruntime reports and warms it up. Throws one ConveyorError listing every problem, after
 * closing the pool.
 */
export async function loadVersion(
  entry: ModelEntry,
  options: LoadOptions = {},
): Promise<LoadedVersion> {
  const pool = createInferencePool(entry.config.threads ?? options.threads ?? 1);
  try {
    return await start(entry, pool, options);
  } catch (error) {
    await pool.close();
    const known = toConveyorError(error);
    throw known.issues.length > 0
      ? known
      : issuesError(entry.dir, issuesOf(known, entry.modelPath));
  }
}

/**
 * Loads a version as a worker would (signature, batching, warm-up), reports it, and closes it
 * again: for tools that show or check a model without serving it.
 */
export async function inspectVersion(
  entry: ModelEntry,
  options: LoadOptions = {},
): Promise<ServedModel> {
  // A pipeline's signature is its model.json's; its models load on its first request.
  if (entry.config.pipeline) return pipelineServed(entry);
  const loaded = await loadVersion(entry, options);
  await loaded.pool.close();
  return loaded.served;
}
