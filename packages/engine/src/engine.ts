import {
  ConveyorError,
  rejectionOf,
  DEFAULT_MAX_TENSOR_BYTES,
  checkRequest,
  settledWithin,
  silentLogger,
  type Logger,
  type Tensor,
} from '@conveyor/shared';
import type { BatcherStats } from './batcher.js';
import { keyOf, runSync, type SyncReport, type SyncState } from './engine-sync.js';
import type { InferenceRun } from './load-version.js';
import type { ModelProblem } from './model-problem.js';
import type { ServedModel } from './served-model.js';
import { createVersionRegistry } from './version-registry.js';

export type { SyncReport } from './engine-sync.js';

export interface EngineOptions {
  /** The model repository folder. */
  repository: string;
  /** Serve only these model names (and the models their pipelines call); default every model. */
  models?: readonly string[];
  /**
   * Inference threads of each model version that does not set its own. Default 1. 0 runs
   * inference on the calling thread, blocking its event loop (for measurement only).
   */
  threads?: number;
  /**
   * Versions whose onnxruntime run of the warm-up sample takes less than this, in ms, run on the
   * calling thread instead of an inference thread (the hop would cost more than the run; the run
   * blocks the event loop while it lasts). Default 0: every version runs on its threads.
   */
  inlineBelowMs?: number;
  /** Largest tensor accepted, in bytes. Default 64 MiB. */
  maxTensorBytes?: number;
  /**
   * Run each version's warm-up before serving it. Default true; tools that only read signatures
   * turn it off.
   */
  warmup?: boolean;
  logger?: Logger;
  /**
   * Told of every onnxruntime call that serves requests, after it succeeded: for metrics (batch
   * sizes formed, time the threads were busy). Called on the event loop; keep it cheap.
   */
  onRun?: (run: InferenceRun) => void;
}

/** Whether a version's inference threads answered a no-op task (see Engine.ping). */
export interface ThreadsPing {
  model: string;
  version: string;
  /** Inference threads of the version; 0 for one that runs on the calling thread. */
  threads: number;
  /** Whether it runs on the calling thread, whose answer is the event loop's. */
  inline: boolean;
  answered: boolean;
  /** Milliseconds until the answer; undefined when none came within the bound. */
  ms: number | undefined;
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
  /** Epoch ms by which the caller needs the outcome: batches are kept short enough to meet it. */
  deadline?: number | undefined;
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

/** What a rescan of the repository changed. */
/** Runs the models of a repository on a pool of inference threads. */
export interface Engine {
  /**
   * Every model version served, grouped by name, oldest version first; kept current by sync and
   * unload.
   */
  readonly models: ReadonlyMap<string, readonly ServedModel[]>;
  /** Model versions that could not be served at the latest scan, with the reason. */
  readonly problems: readonly ModelProblem[];
  readonly maxTensorBytes: number;
  /** The signature of a model version; throws ERR_MODEL_NOT_FOUND or ERR_MODEL_VERSION_NOT_FOUND. */
  resolve(model: string, version?: string): ServedModel;
  /** Checks the inputs against the signature, then runs the model. */
  predict(call: PredictCall): Promise<PredictOutcome>;
  /**
   * Sends a no-op task to the inference threads of every version served, and reports, once all
   * answered or `timeoutMs` passed, which answered. A ping waits behind the calls running on the
   * threads.
   */
  ping(timeoutMs: number): Promise<ThreadsPing[]>;
  /**
   * What a version's batcher has learned (the batch size it uses, and rows/s per size), and the
   * runs it handed to the version's threads and the onnxruntime calls they made.
   */
  batchStats(model: string, version?: string): BatcherStats;
  /**
   * Rescans the repository (the `models` filter still applies): loads and warms up versions that
   * appeared, and reports served versions whose folder disappeared without unloading them (each
   * once), so the caller can drain their queue first. Calls run one after another.
   */
  sync(): Promise<SyncReport>;
  /**
   * Stops serving a version: new predict calls for it fail (ERR_MODEL_VERSION_NOT_FOUND, or
   * ERR_MODEL_NOT_FOUND when it was the last), calls in flight finish, then its threads close.
   * A later sync loads it again if its folder is still there.
   */
  unload(model: string, version: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Reads the repository, loads each model version on its own inference threads and checks it
 * against what onnxruntime reports. A version that fails is recorded in `problems` and logged;
 * the others are served. `sync()` and `unload()` change what is served while it runs.
 */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  const registry = createVersionRegistry();
  let closed = false;
  /** Checks a call and submits it to its version's batcher; throws what it refuses. */
  const submit = (call: PredictCall): Promise<PredictOutcome> => {
    if (closed) throw new ConveyorError('ERR_CLOSED', 'the engine is closed');
    const served = registry.resolve(call.model, call.version);
    const outputs = checkRequest(
      served.signature,
      call.inputs,
      call.outputs ?? served.defaultOutputs,
    );
    const { batcher } = registry.loaded(served);
    const submitted = () =>
      batcher.submit({ ...call.inputs }, outputs, call.transferInputs ?? false, {
        budgetMs: call.deadline === undefined ? undefined : call.deadline - Date.now(),
      });
    return registry.track(served, submitted).then((result) => ({
      model: served.entry.name,
      version: served.entry.version,
      outputs: result.outputs,
      runMs: result.ms,
      batch: { rows: result.batchRows, requests: result.batchRequests },
    }));
  };
  // Not an async function: one reaction per call instead of a suspended frame (see track); a
  // refusal is still a rejection, never a throw.
  const predict = (call: PredictCall): Promise<PredictOutcome> => {
    try {
      return submit(call);
    } catch (err) {
      return rejectionOf(err);
    }
  };
  const state: SyncState = {
    options,
    registry,
    log: options.logger ?? silentLogger(),
    problems: [],
    failed: new Map(),
    gone: new Set(),
    refusedChanges: new Map(),
    stamps: new Map(),
    retiring: new Set(),
    isClosed: () => closed,
    repository: {
      predict: async (ref, inputs, outputs) =>
        (await predict({ model: ref.model, version: ref.version, inputs, outputs })).outputs,
      resolve: (ref) => {
        const { runtime } = registry.resolve(ref.model, ref.version);
        const [input, output] = [runtime.inputs[0], runtime.outputs[0]];
        if (!input || !output)
          throw new ConveyorError(
            'ERR_MODEL_CONFIG_INVALID',
            `model "${ref.model}" has no input or output`,
          );
        return { input: input.name, output: output.name };
      },
    },
  };
  let queue: Promise<unknown> = Promise.resolve();
  const sync = (): Promise<SyncReport> => {
    if (closed) return Promise.reject(new ConveyorError('ERR_CLOSED', 'the engine is closed'));
    const next = queue.then(() => runSync(state));
    queue = next.catch(() => undefined);
    return next;
  };
  await sync();

  return {
    models: registry.models,
    get problems() {
      return state.problems;
    },
    maxTensorBytes: options.maxTensorBytes ?? DEFAULT_MAX_TENSOR_BYTES,
    resolve: (model, version) => registry.resolve(model, version),
    predict,
    async ping(timeoutMs) {
      return Promise.all(
        registry.all().map(async ({ served, pool }): Promise<ThreadsPing> => {
          const startedAt = performance.now();
          let ms: number | undefined;
          // A ping that fails (the pool closed under it) is no answer either.
          const answer = pool.ping().then(
            () => (ms = performance.now() - startedAt),
            () => undefined,
          );
          await settledWithin(answer, timeoutMs);
          return {
            model: served.entry.name,
            version: served.entry.version,
            threads: pool.inline ? 0 : pool.threads,
            inline: pool.inline,
            answered: ms !== undefined,
            ms,
          };
        }),
      );
    },
    batchStats: (model, version) =>
      registry.loaded(registry.resolve(model, version)).batcher.stats(),
    sync,
    async unload(model, version) {
      registry.resolve(model, version);
      const loaded = registry.take(model, version);
      if (!loaded) return;
      state.gone.delete(loaded.served);
      state.stamps.delete(keyOf(model, version));
      await registry.idle(loaded.served);
      await loaded.pool.close();
      state.log.info({ model, version }, 'model unloaded');
    },
    async close() {
      if (closed) return;
      closed = true;
      await queue;
      await Promise.all([...registry.all().map((v) => v.pool.close()), ...state.retiring]);
    },
  };
}
