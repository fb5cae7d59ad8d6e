import {
  ConveyorError,
  DEFAULT_MAX_TENSOR_BYTES,
  checkRequest,
  compareVersions,
  silentLogger,
  toConveyorError,
  type Logger,
  type ModelSignature,
  type Tensor,
} from '@conveyor/shared';
import { createInferencePool } from './inference-pool.js';
import { scanRepository, type ModelEntry, type ModelProblem } from './model-repository.js';
import { reconcileSignature } from './signature.js';

export interface EngineOptions {
  /** The model repository folder. */
  repository: string;
  /** Serve only these model names; default every model in the repository. */
  models?: readonly string[];
  /** Inference threads. Default 1. */
  threads?: number;
  /** Largest tensor accepted, in bytes. Default 64 MiB. */
  maxTensorBytes?: number;
  logger?: Logger;
}

/** A model version the engine has loaded and checked. */
export interface ServedModel {
  readonly entry: ModelEntry;
  readonly signature: ModelSignature;
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
  /** Milliseconds onnxruntime spent in run(). */
  runMs: number;
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
  const pool = createInferencePool(options.threads ?? 1);
  const models = new Map<string, ServedModel[]>();

  for (const entry of scan.entries) {
    try {
      const reply = await pool.run({
        kind: 'describe',
        modelPath: entry.modelPath,
        session: entry.config.session,
      });
      if (reply.kind !== 'describe')
        throw new ConveyorError('ERR_INTERNAL', 'describe answered with a run reply');
      const signature = reconcileSignature(entry.config, entry.version, reply, entry.modelPath);
      const list = models.get(entry.name) ?? [];
      list.push({ entry, signature });
      list.sort((a, b) => compareVersions(a.entry.version, b.entry.version));
      models.set(entry.name, list);
    } catch (error) {
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
    log.info({ model: name, versions: versions.map((v) => v.entry.version) }, 'model loaded');
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
      const reply = await pool.run(
        {
          kind: 'run',
          modelPath: served.entry.modelPath,
          session: served.entry.config.session,
          inputs: { ...call.inputs },
          outputs,
        },
        call.transferInputs ?? false,
      );
      if (reply.kind !== 'run')
        throw new ConveyorError('ERR_INTERNAL', 'run answered with a describe reply');
      return {
        model: served.entry.name,
        version: served.entry.version,
        outputs: reply.outputs,
        runMs: reply.ms,
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.close();
    },
  };
}
