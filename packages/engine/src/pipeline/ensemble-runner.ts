/**
 * @file The `ensemble` pipeline: a graph of models and `combine` steps inside one job. Each step
 * starts as soon as the tensors it reads exist, so steps that do not depend on each other run side
 * by side; each model batches with its other traffic, like every other request to it.
 */
import {
  ConveyorError,
  isConveyorError,
  splitSource,
  type EnsemblePipeline,
  type EnsembleStep,
  type ModelRef,
  type Tensor,
} from '@conveyor/shared';
import { combineTensors } from './combine.js';
import type { PipelineRunner } from './runner.js';

/** Runs a model on named inputs; `outputs` undefined asks for every output. */
export type StepCall = (
  inputs: Record<string, Tensor>,
  outputs: readonly string[] | undefined,
) => Promise<Record<string, Tensor>>;

/** How an ensemble reaches its models: of the repository or of its own folder alike. */
export interface EnsembleCalls {
  model(ref: ModelRef): StepCall;
}

type Outputs = Record<string, Tensor>;
type Read = (source: string) => Promise<Tensor>;

/** A step's error, named after the step; its code stays (a bad input is still a bad input). */
function inStep(step: string, error: unknown): unknown {
  if (!isConveyorError(error)) return error;
  return new ConveyorError(error.code, `step "${step}": ${error.message}`, {
    details: error.details,
    issues: [...error.issues],
    cause: error,
  });
}

async function runStep(
  step: EnsembleStep,
  call: StepCall | undefined,
  read: Read,
  maxTensorBytes: number,
): Promise<Outputs> {
  try {
    if ('combine' in step) {
      const tensors = await Promise.all(step.from.map(read));
      return {
        output: combineTensors(step.name, step.combine, tensors, maxTensorBytes, step.weights),
      };
    }
    const named = await Promise.all(
      Object.entries(step.inputs).map(
        async ([name, source]) => [name, await read(source)] as const,
      ),
    );
    return await call!(Object.fromEntries(named), step.outputs);
  } catch (error) {
    throw inStep(step.name, error);
  }
}

/** Checks an answer against what the pipeline declares for it. */
function declared(output: EnsemblePipeline['outputs'][number], tensor: Tensor): Tensor {
  const fits =
    tensor.dtype === output.dtype &&
    tensor.shape.length === output.shape.length &&
    output.shape.every((dim, i) => dim === -1 || dim === tensor.shape[i]);
  if (!fits)
    throw new ConveyorError(
      'ERR_MODEL_CONFIG_INVALID',
      `pipeline output "${output.name}" is declared ${output.dtype} [${output.shape.join(', ')}], but ${output.from} is ${tensor.dtype} [${tensor.shape.join(', ')}]`,
    );
  return tensor;
}

/** Builds the ensemble's runner: one call per model step, made once. */
export function createEnsembleRunner(
  pipeline: EnsemblePipeline,
  calls: EnsembleCalls,
  maxTensorBytes: number,
): PipelineRunner {
  const steps = pipeline.steps.map((step) => ({
    step,
    call: 'combine' in step ? undefined : calls.model(step.model),
  }));
  return {
    async run(given) {
      const results = new Map<string, Promise<Outputs>>([['input', Promise.resolve({ ...given })]]);
      const read: Read = async (source) => {
        const { step, tensor } = splitSource(source);
        const found = (await results.get(step)!)[tensor];
        if (!found)
          throw new ConveyorError(
            'ERR_MODEL_CONFIG_INVALID',
            `step "${step}" gave no "${tensor}" (${source})`,
          );
        return found;
      };
      for (const { step, call } of steps) {
        const running = runStep(step, call, read, maxTensorBytes);
        // Awaited below; marked handled now, so a step failing before that is no unhandled rejection.
        running.catch(() => undefined);
        results.set(step.name, running);
      }
      const out: Outputs = {};
      for (const output of pipeline.outputs)
        out[output.name] = declared(output, await read(output.from));
      // Every step ends before the job does, and the first failure is the job's.
      await Promise.all(results.values());
      return out;
    },
  };
}
