import {
  ConveyorError,
  DEFAULT_MAX_TENSOR_BYTES,
  checkRequest,
  settledWithin,
  silentLogger,
  type Logger,
  type Tensor,
} from '@conveyor/shared';
import { chooseInline } from './inline-choice.js';
import type { BatchSizerStats } from './batch-sizer.js';
import { loadVersion, type InferenceRun } from './load-version.js';
import { loadPipeline, type PipelineDeps } from './pipeline/load-pipeline.js';
import type { ModelProblem } from './model-problem.js';
import { versionStamp, type ModelEntry } from './model-repository.js';
import { scanWithDependencies } from './pipeline/scan-with-dependencies.js';
import type { ServedModel } from './served-model.js';
import { createVersionRegistry, type VersionRegistry } from './version-registry.js';

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
  /** Run each version's warm-up before serving it. Default true; tools that only read signatures turn it off. */
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
export interface SyncReport {
  /** Versions loaded, warmed up and served by this sync. */
  added: ServedModel[];
  /** Served versions whose folder has gone since the last sync; still served until `unload`. */
  removed: ServedModel[];
  /** Every version of the repository that cannot be served, as `engine.problems` now lists. */
  problems: ModelProblem[];
}

/** Runs the models of a repository on a pool of inference threads. */
export interface Engine {
  /** Every model version served, grouped by name, oldest version first; kept current by sync and unload. */
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
  /** What a version's batcher has learned: the batch size it uses, and rows/s per size. */
  batchStats(model: string, version?: string): BatchSizerStats;
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

const keyOf = (name: string, version?: string) => `${name}@${version ?? '-'}`;

interface SyncState {
  readonly options: EngineOptions;
  readonly registry: VersionRegistry;
  readonly log: Logger;
  problems: ModelProblem[];
  /** Versions that failed to load, with the stamp of their files then: retried when it changes. */
  readonly failed: Map<string, { stamp: string; problem: ModelProblem }>;
  /** Served versions already reported as removed. */
  readonly gone: Set<ServedModel>;
  readonly isClosed: () => boolean;
  /** How a pipeline version calls the other models of the repository. */
  readonly repository: Pick<PipelineDeps, 'predict' | 'resolve'>;
}

async function loadEntry(
  state: SyncState,
  entry: ModelEntry,
): Promise<ServedModel | ModelProblem | undefined> {
  const key = keyOf(entry.name, entry.version);
  const stamp = await versionStamp(entry);
  const failed = state.failed.get(key);
  if (failed?.stamp === stamp) return failed.problem;
  try {
    const startedAt = performance.now();
    const options = {
      threads: state.options.threads ?? 1,
      warmup: state.options.warmup ?? true,
      maxTensorBytes: state.options.maxTensorBytes,
      logger: state.log,
      onRun: state.options.onRun,
    };
    const chosen = entry.config.pipeline
      ? await loadPipeline(entry, { ...options, ...state.repository })
      : await chooseInline(
          await loadVersion(entry, options),
          state.options.inlineBelowMs ?? 0,
          state.log,
        );
    if (state.isClosed()) {
      await chosen.pool.close();
      return undefined;
    }
    const loaded = {
      ...chosen,
      served: { ...chosen.served, loadMs: performance.now() - startedAt },
    };
    state.failed.delete(key);
    state.registry.add(loaded);
    return loaded.served;
  } catch (error) {
    const problem = {
      name: entry.name,
      version: entry.version,
      path: entry.dir,
      error: error as ConveyorError,
    };
    state.failed.set(key, { stamp, problem });
    return problem;
  }
}

async function runSync(state: SyncState): Promise<SyncReport> {
  const { registry, log } = state;
  const scan = await scanWithDependencies(state.options.repository, state.options.models ?? []);
  const known = new Set(
    state.problems.map((p) => `${keyOf(p.name, p.version)} ${p.error.message}`),
  );
  const problems: ModelProblem[] = [...scan.problems];
  const added: ServedModel[] = [];
  for (const entry of scan.entries) {
    if (registry.has(entry.name, entry.version)) continue;
    const outcome = await loadEntry(state, entry);
    if (outcome === undefined) continue;
    if ('error' in outcome) problems.push(outcome);
    else added.push(outcome);
  }
  const onDisk = new Set([...scan.entries, ...problems].map((v) => keyOf(v.name, v.version)));
  for (const key of state.failed.keys()) if (!onDisk.has(key)) state.failed.delete(key);
  const removed: ServedModel[] = [];
  for (const { served } of registry.all()) {
    const here = onDisk.has(keyOf(served.entry.name, served.entry.version));
    if (here) state.gone.delete(served);
    else if (!state.gone.has(served)) removed.push(served);
  }
  for (const served of removed) state.gone.add(served);
  state.problems = problems;
  for (const p of problems.filter(
    (p) => !known.has(`${keyOf(p.name, p.version)} ${p.error.message}`),
  ))
    log.error(
      { model: p.name, version: p.version, code: p.error.code, path: p.path, err: p.error },
      'model not served',
    );
  for (const s of added) {
    const { name, version, config } = s.entry;
    log.info(
      {
        model: name,
        version,
        threads: s.threads,
        inline: s.inline ?? false,
        batching: s.batchable ? config.batching : false,
        warmupMs: s.warmupMs,
        state: s.state,
      },
      'model loaded',
    );
  }
  for (const s of removed)
    log.info({ model: s.entry.name, version: s.entry.version }, 'model folder removed');
  return { added, removed, problems: [...problems] };
}

/**
 * Reads the repository, loads each model version on its own inference threads and checks it
 * against what onnxruntime reports. A version that fails is recorded in `problems` and logged;
 * the others are served. `sync()` and `unload()` change what is served while it runs.
 */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  const registry = createVersionRegistry();
  let closed = false;
  const predict = async (call: PredictCall): Promise<PredictOutcome> => {
    if (closed) throw new ConveyorError('ERR_CLOSED', 'the engine is closed');
    const served = registry.resolve(call.model, call.version);
    const outputs = checkRequest(
      served.signature,
      call.inputs,
      call.outputs ?? served.defaultOutputs,
    );
    const { batcher } = registry.loaded(served);
    const result = await registry.track(served, () =>
      batcher.submit({ ...call.inputs }, outputs, call.transferInputs ?? false, {
        budgetMs: call.deadline === undefined ? undefined : call.deadline - Date.now(),
      }),
    );
    return {
      model: served.entry.name,
      version: served.entry.version,
      outputs: result.outputs,
      runMs: result.ms,
      batch: { rows: result.batchRows, requests: result.batchRequests },
    };
  };
  const state: SyncState = {
    options,
    registry,
    log: options.logger ?? silentLogger(),
    problems: [],
    failed: new Map(),
    gone: new Set(),
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
      await registry.idle(loaded.served);
      await loaded.pool.close();
      state.log.info({ model, version }, 'model unloaded');
    },
    async close() {
      if (closed) return;
      closed = true;
      await queue;
      await Promise.all(registry.all().map((v) => v.pool.close()));
    },
  };
}
