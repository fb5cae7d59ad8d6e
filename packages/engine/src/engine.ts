import {
  ConveyorError,
  DEFAULT_MAX_TENSOR_BYTES,
  DTYPE_ARRAYS,
  createTensor,
  type TensorData,
  type TypedArray,
  checkRequest,
  compareVersions,
  silentLogger,
  toConveyorError,
  type Logger,
  type ModelSignature,
  type Tensor,
} from '@conveyor/shared';
import { createBatcher, type Batcher } from './batcher.js';
import { createInferencePool, type InferencePool } from './inference-pool.js';
import { scanRepository, type ModelEntry, type ModelProblem } from './model-repository.js';
import { reconcileSignature } from './signature.js';
import type { RunFn } from './batcher.js';

export interface EngineOptions {
  /** The model repository folder. */
  repository: string;
  /** Serve only these model names; default every model in the repository. */
  models?: readonly string[];
  /**
   * Inference threads of each model version that does not set its own. Default 1. 0 runs
   * inference on the calling thread, blocking its event loop (for measurement only).
   */
  threads?: number;
  /** Largest tensor accepted, in bytes. Default 64 MiB. */
  maxTensorBytes?: number;
  logger?: Logger;
}

/** A model version the engine has loaded and checked. */
export interface ServedModel {
  readonly entry: ModelEntry;
  readonly signature: ModelSignature;
  /** Inference threads running this version. */
  readonly threads: number;
  /** Whether requests are joined into batches (every input and output has a free first dim). */
  readonly batchable: boolean;
  /** Milliseconds of the warm-up run, or undefined when warm-up is off or failed. */
  readonly warmupMs: number | undefined;
}

export interface PredictCall {
  model: string;
  /** Default: the newest version served. */
  version?: string | undefined;
  inputs: Readonly<Record<string, Tensor>>;
  /** Default: every output. */
  outputs?: readonly string[] | undefined;
  /** Move the inputs' buffers to the inference thread instead of copying them (they become unusable). */
  transferInputs?: boolean;
}

export interface PredictOutcome {
  model: string;
  version: string;
  outputs: Record<string, Tensor>;
  /** Milliseconds onnxruntime spent in run() (for the whole batch this request ran in). */
  runMs: number;
  /** Rows and requests of the onnxruntime call this request ran in. */
  batch: { rows: number; requests: number };
}

/** Runs the models of a repository on a pool of inference threads. */
export interface Engine {
  /** Every model version served, grouped by name, oldest version first. */
  readonly models: ReadonlyMap<string, readonly ServedModel[]>;
  /** Model versions that could not be served, with the reason. */
  readonly problems: readonly ModelProblem[];
  readonly maxTensorBytes: number;
  /** The signature of a model version; throws ERR_MODEL_NOT_FOUND or ERR_MODEL_VERSION_NOT_FOUND. */
  resolve(model: string, version?: string): ServedModel;
  /** Checks the inputs against the signature, then runs the model. */
  predict(call: PredictCall): Promise<PredictOutcome>;
  close(): Promise<void>;
}

/**
 * Reads the repository, loads each model version on the inference threads and checks its
 * model.json against what onnxruntime reports. A version that fails is recorded in `problems`
 * and logged; the others are served.
 */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  const log = options.logger ?? silentLogger();
  const maxTensorBytes = options.maxTensorBytes ?? DEFAULT_MAX_TENSOR_BYTES;
  const scan = await scanRepository(options.repository, options.models ?? []);
  const problems: ModelProblem[] = [...scan.problems];
  const defaultThreads = options.threads ?? 1;
  const models = new Map<string, ServedModel[]>();
  const runtimes = new Map<ServedModel, { pool: InferencePool; batcher: Batcher }>();
  const pools: InferencePool[] = [];

  for (const entry of scan.entries) {
    const threads = entry.config.threads ?? defaultThreads;
    const pool = createInferencePool(threads);
    pools.push(pool);
    try {
      const reply = await pool.run({
        kind: 'describe',
        modelPath: entry.modelPath,
        session: entry.config.session,
      });
      if (reply.kind !== 'describe')
        throw new ConveyorError('ERR_INTERNAL', 'describe answered with a run reply');
      const signature = reconcileSignature(entry.config, entry.version, reply, entry.modelPath);
      const run: RunFn = async (inputs, outputs, transfer) => {
        const result = await pool.run(
          {
            kind: 'run',
            modelPath: entry.modelPath,
            session: entry.config.session,
            inputs,
            outputs,
          },
          transfer,
        );
        if (result.kind !== 'run')
          throw new ConveyorError('ERR_INTERNAL', 'run answered with a describe reply');
        return { outputs: result.outputs, ms: result.ms };
      };
      const warmupMs = entry.config.warmup ? await warmUp(signature, threads, run, log) : undefined;
      const served: ServedModel = {
        entry,
        signature,
        threads,
        batchable: isBatchable(signature),
        warmupMs,
      };
      runtimes.set(served, {
        pool,
        batcher: createBatcher({
          ...entry.config.batching,
          slots: Math.max(1, threads),
          batchable: served.batchable,
          run,
          log: log.child({ model: entry.name, version: entry.version }),
        }),
      });
      const list = models.get(entry.name) ?? [];
      list.push(served);
      list.sort((a, b) => compareVersions(a.entry.version, b.entry.version));
      models.set(entry.name, list);
    } catch (error) {
      await pool.close();
      pools.splice(pools.indexOf(pool), 1);
      problems.push({
        name: entry.name,
        version: entry.version,
        path: entry.modelPath,
        error: toConveyorError(error),
      });
    }
  }
  for (const problem of problems) {
    log.error(
      {
        model: problem.name,
        version: problem.version,
        code: problem.error.code,
        path: problem.path,
        err: problem.error,
      },
      'model not served',
    );
  }
  for (const [name, versions] of models) {
    for (const v of versions) {
      log.info(
        {
          model: name,
          version: v.entry.version,
          threads: v.threads,
          batching: v.batchable ? v.entry.config.batching : false,
          warmupMs: v.warmupMs,
        },
        'model loaded',
      );
    }
  }

  let closed = false;
  const resolve = (model: string, version?: string): ServedModel => {
    const versions = models.get(model);
    if (!versions || versions.length === 0) {
      throw new ConveyorError('ERR_MODEL_NOT_FOUND', `model "${model}" is not served here`, {
        details: { model },
      });
    }
    if (version === undefined) return versions[versions.length - 1] as ServedModel;
    const match = versions.find((v) => v.entry.version === version);
    if (!match) {
      throw new ConveyorError(
        'ERR_MODEL_VERSION_NOT_FOUND',
        `model "${model}" has no version ${version}; served versions: ${versions.map((v) => v.entry.version).join(', ')}`,
        { details: { model, version } },
      );
    }
    return match;
  };

  return {
    models,
    problems,
    maxTensorBytes,
    resolve,
    async predict(call) {
      if (closed) throw new ConveyorError('ERR_CLOSED', 'the engine is closed');
      const served = resolve(call.model, call.version);
      const outputs = checkRequest(served.signature, call.inputs, call.outputs);
      const runtime = runtimes.get(served) as { batcher: Batcher };
      const result = await runtime.batcher.submit(
        { ...call.inputs },
        outputs,
        call.transferInputs ?? false,
      );
      return {
        model: served.entry.name,
        version: served.entry.version,
        outputs: result.outputs,
        runMs: result.ms,
        batch: { rows: result.batchRows, requests: result.batchRequests },
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(pools.map((p) => p.close()));
    },
  };
}

/** True when every input and output has a free first dimension, so requests can be joined. */
function isBatchable(signature: ModelSignature): boolean {
  return [...signature.inputs, ...signature.outputs].every(
    (spec) => spec.shape.length > 0 && spec.shape[0] === -1,
  );
}

/** A zero-filled input of one row (free dimensions of size 1) for each input of the signature. */
function syntheticInputs(signature: ModelSignature): Record<string, Tensor> {
  const inputs: Record<string, Tensor> = {};
  for (const spec of signature.inputs) {
    const shape = spec.shape.map((d) => (d === -1 ? 1 : d));
    const elements = shape.reduce((n, d) => n * d, 1);
    const data: TensorData =
      spec.dtype === 'string'
        ? new Array<string>(elements).fill('')
        : new (DTYPE_ARRAYS[spec.dtype] as unknown as new (length: number) => TypedArray)(elements);
    inputs[spec.name] = createTensor(spec.dtype, shape, data, Number.POSITIVE_INFINITY);
  }
  return inputs;
}

/**
 * Runs the version once on every one of its threads (each thread opens its own session), so the
 * first real job pays neither the session load nor onnxruntime's first-run allocations. A model
 * that cannot run the synthetic input (a free dimension that must be larger than 1, say) is still
 * served: the failure is logged and real inputs decide.
 */
async function warmUp(
  signature: ModelSignature,
  threads: number,
  run: RunFn,
  log: Logger,
): Promise<number | undefined> {
  const started = performance.now();
  const outputs = signature.outputs.map((o) => o.name);
  try {
    await Promise.all(
      Array.from({ length: Math.max(1, threads) }, () =>
        run(syntheticInputs(signature), outputs, true),
      ),
    );
    return performance.now() - started;
  } catch (error) {
    const known = toConveyorError(error);
    log.warn(
      {
        model: signature.name,
        version: signature.version,
        code: known.code,
        reason: known.message,
      },
      'warm-up failed; serving the model anyway',
    );
    return undefined;
  }
}
