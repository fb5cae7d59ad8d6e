/**
 * @file A pipeline version (model.json `pipeline`): no .onnx file of its own, it runs other models
 * inside one request: .onnx files of its folder, loaded on their own inference threads, and
 * models of the repository, called through the engine. It is served like a model version whose
 * batcher runs the pipeline and whose pool owns its files' threads.
 */
import { join } from 'node:path';
import { ConveyorError, ModelConfigSchema, type ModelRef, type Tensor } from '@conveyor/shared';
import type { Batcher } from '../batcher.js';
import type { InferencePool } from '../inference-pool.js';
import { loadVersion, type LoadedVersion, type LoadOptions } from '../load-version.js';
import type { ModelEntry } from '../model-repository.js';
import type { ModelCall } from '../processing/ocr/read-page.js';
import { createOcrRunner } from './ocr-runner.js';
import { pipelineServed } from './pipeline-served.js';
import type { PipelineRunner } from './runner.js';

/** Runs a model of the repository on named inputs, for the named outputs. */
export type RepositoryPredict = (
  ref: { model: string; version?: string | undefined },
  inputs: Record<string, Tensor>,
  outputs: readonly string[],
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

/** Loads an .onnx file of the pipeline's folder on its own threads, with no warm-up of its own. */
async function loadFile(
  entry: ModelEntry,
  file: string,
  deps: PipelineDeps,
): Promise<LoadedVersion> {
  const config = ModelConfigSchema.parse({ file, warmup: false });
  const sub: ModelEntry = {
    ...entry,
    modelPath: join(entry.dir, file),
    configPath: undefined,
    config,
  };
  return loadVersion(sub, { ...deps, warmup: false });
}

function fileCall(loaded: LoadedVersion): ModelCall {
  const [input, output] = [loaded.served.runtime.inputs[0], loaded.served.runtime.outputs[0]];
  if (!input || !output)
    throw new ConveyorError(
      'ERR_MODEL_CONFIG_INVALID',
      `${loaded.served.entry.modelPath} has no input or output`,
    );
  return async (tensor) => {
    const result = await loaded.batcher.submit({ [input.name]: tensor }, [output.name], false);
    return result.outputs[output.name]!;
  };
}

function batcherOf(runner: PipelineRunner): Batcher {
  return {
    pending: 0,
    stats: () => ({ adaptive: false, maxBatchSize: 1, bestSize: 1, perSize: [] }),
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
 * signature is the pipeline's. Its requests are not batched: each is one page, one job.
 */
export async function loadPipeline(entry: ModelEntry, deps: PipelineDeps): Promise<LoadedVersion> {
  const pipeline = entry.config.pipeline;
  if (!pipeline) throw new ConveyorError('ERR_INTERNAL', `${entry.dir} is no pipeline`);
  const files: Promise<LoadedVersion>[] = [];
  const callOf = (ref: ModelRef): Promise<ModelCall> => {
    if ('file' in ref) {
      // Loaded on first use: a repository that ships a pipeline costs nothing until it is called.
      let loading: Promise<LoadedVersion> | undefined;
      return Promise.resolve(async (tensor) => {
        if (!loading) {
          loading = loadFile(entry, ref.file, deps);
          files.push(loading);
        }
        return fileCall(await loading)(tensor);
      });
    }
    return Promise.resolve(async (tensor) => {
      const { input, output } = deps.resolve(ref);
      return (await deps.predict(ref, { [input]: tensor }, [output]))[output]!;
    });
  };
  try {
    const runner = await createOcrRunner(entry, pipeline, callOf, deps.maxTensorBytes);
    const served = pipelineServed(entry);
    return { served, batcher: batcherOf(runner), pool: poolOf(files) };
  } catch (error) {
    await poolOf(files).close();
    throw error;
  }
}
