/**
 * @file A pipeline version (model.json `pipeline`): no .onnx file of its own, it runs other models
 * inside one request: .onnx files of its folder, loaded on their own inference threads, and
 * models of the repository, called through the engine. It is served like a model version whose
 * batcher runs the pipeline and whose pool owns its files' threads.
 */
import { join } from 'node:path';
import {
  ConveyorError,
  DEFAULT_MAX_TENSOR_BYTES,
  ModelConfigSchema,
  type Postprocess,
  type Preprocess,
  type Tensor,
} from '@conveyor/shared';
import type { Batcher } from '../batcher.js';
import type { InferencePool } from '../inference-pool.js';
import { loadVersion, type LoadedVersion, type LoadOptions } from '../load-version.js';
import type { ModelEntry } from '../model-repository.js';
import type { ProcessedCall } from '../processing/ocr/ocr-models.js';
import { createEnsembleRunner, type EnsembleCalls } from './ensemble-runner.js';
import { createOcrRunner, type OcrCalls } from './ocr-runner.js';
import { pipelineServed } from './pipeline-served.js';
import type { PipelineRunner } from './runner.js';

/** Runs a model of the repository on named inputs, for the named outputs (undefined: all). */
export type RepositoryPredict = (
  ref: { model: string; version?: string | undefined },
  inputs: Record<string, Tensor>,
  outputs: readonly string[] | undefined,
) => Promise<Record<string, Tensor>>;

/** The raw input and output names of a repository model, as onnxruntime reports them. */
export type RepositoryResolve = (ref: { model: string; version?: string | undefined }) => {
  input: string;
  output: string;
};

export interface PipelineDeps extends LoadOptions {
  readonly predict: RepositoryPredict;
  readonly resolve: RepositoryResolve;
}

type Steps = { preprocess?: Preprocess; postprocess?: Postprocess };

/**
 * Loads an .onnx file of the pipeline's folder on its own threads, with the steps the pipeline
 * gives it (run on those threads; files they read are the pipeline folder's) and no warm-up.
 */
async function loadFile(
  entry: ModelEntry,
  file: string,
  deps: PipelineDeps,
  steps: Steps,
): Promise<LoadedVersion> {
  const config = ModelConfigSchema.parse({ file, warmup: false, ...steps });
  const sub: ModelEntry = {
    ...entry,
    modelPath: join(entry.dir, file),
    configPath: undefined,
    config,
  };
  return loadVersion(sub, { ...deps, warmup: false });
}

/** Calls a loaded file: its one external input in, the named outputs (or its first) out. */
async function callFile(
  loaded: LoadedVersion,
  tensor: Tensor,
  outputs: readonly string[],
  transfer = false,
): Promise<Record<string, Tensor>> {
  const { inputs, outputs: all } = loaded.served.signature;
  const [input, first] = [inputs[0], all[0]];
  if (!input || !first)
    throw new ConveyorError(
      'ERR_MODEL_CONFIG_INVALID',
      `${loaded.served.entry.modelPath} has no input or output`,
    );
  const wanted = outputs.length > 0 ? outputs : [first.name];
  return (await loaded.batcher.submit({ [input.name]: tensor }, [...wanted], transfer)).outputs;
}

type LazyFile = (file: string, steps?: Steps) => () => Promise<LoadedVersion>;

function ocrCalls(lazyFile: LazyFile, deps: PipelineDeps): OcrCalls {
  return {
    file(file, steps): ProcessedCall {
      const loaded = lazyFile(file, steps);
      return async (tensor, outputs, transfer) =>
        callFile(await loaded(), tensor, outputs, transfer);
    },
    raw: (ref) => async (tensor) => {
      const { input, output } = deps.resolve(ref);
      return (await deps.predict(ref, { [input]: tensor }, [output]))[output]!;
    },
  };
}

function ensembleCalls(lazyFile: LazyFile, deps: PipelineDeps): EnsembleCalls {
  return {
    model(ref) {
      if ('model' in ref) return (inputs, outputs) => deps.predict(ref, inputs, outputs);
      const loaded = lazyFile(ref.file);
      return async (inputs, outputs) => {
        const version = await loaded();
        const all = version.served.signature.outputs.map((o) => o.name);
        return (await version.batcher.submit(inputs, [...(outputs ?? all)], false)).outputs;
      };
    },
  };
}

function batcherOf(runner: PipelineRunner): Batcher {
  return {
    pending: 0,
    stats: () => ({
      adaptive: false,
      maxBatchSize: 1,
      bestSize: 1,
      perSize: [],
      handoffs: 0,
      runs: 0,
    }),
    async submit(inputs, outputs) {
      const startedAt = performance.now();
      const all = await runner.run(inputs);
      const picked = Object.fromEntries(outputs.map((name) => [name, all[name]!]));
      return { outputs: picked, ms: performance.now() - startedAt, batchRows: 1, batchRequests: 1 };
    },
  };
}

/** The pipeline's pool: it owns the threads of the files loaded so far. */
function poolOf(files: readonly Promise<LoadedVersion>[]): InferencePool {
  const loaded = async (): Promise<LoadedVersion[]> =>
    (await Promise.allSettled(files)).flatMap((f) => (f.status === 'fulfilled' ? [f.value] : []));
  return {
    run: () => Promise.reject(new ConveyorError('ERR_INTERNAL', 'a pipeline runs no tasks itself')),
    threads: 0,
    inline: true,
    runInline: () => Promise.resolve(),
    ping: async () => {
      await Promise.all((await loaded()).map((f) => f.pool.ping()));
    },
    close: async () => {
      await Promise.all((await loaded()).map((f) => f.pool.close()));
    },
  };
}

/**
 * Loads a pipeline version: its files on their threads, its runner, and a served model whose
 * signature is the pipeline's. A request runs alone through the pipeline (one page, one record
 * set); the models it calls batch it with their other traffic.
 */
export async function loadPipeline(entry: ModelEntry, deps: PipelineDeps): Promise<LoadedVersion> {
  const pipeline = entry.config.pipeline;
  if (!pipeline) throw new ConveyorError('ERR_INTERNAL', `${entry.dir} is no pipeline`);
  const files: Promise<LoadedVersion>[] = [];
  // Each file is loaded on first use: a repository that ships a pipeline costs nothing until it
  // is called.
  const lazyFile = (file: string, steps: Steps = {}): (() => Promise<LoadedVersion>) => {
    let loading: Promise<LoadedVersion> | undefined;
    return () => {
      if (!loading) {
        loading = loadFile(entry, file, deps, steps);
        files.push(loading);
      }
      return loading;
    };
  };
  try {
    const runner =
      pipeline.kind === 'ocr'
        ? await createOcrRunner(entry, pipeline, ocrCalls(lazyFile, deps), deps.maxTensorBytes)
        : createEnsembleRunner(
            pipeline,
            ensembleCalls(lazyFile, deps),
            deps.maxTensorBytes ?? DEFAULT_MAX_TENSOR_BYTES,
          );
    const served = pipelineServed(entry);
    return { served, batcher: batcherOf(runner), pool: poolOf(files) };
  } catch (error) {
    await poolOf(files).close();
    throw error;
  }
}
