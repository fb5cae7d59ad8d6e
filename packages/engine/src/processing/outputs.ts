/**
 * @file The output steps `softmax`, `argmax`, `topk` and `threshold`: class scores along the last
 * axis of a model output turned into probabilities, labels and their scores.
 */
import {
  ConveyorError,
  createTensor,
  halfToNumber,
  type ArgmaxStep,
  type Labels,
  type SoftmaxStep,
  type Tensor,
  type TensorSpec,
  type ThresholdStep,
  type TopkStep,
} from '@conveyor/shared';
import type { RuntimeTensorSpec } from '../session.js';
import { sigmoidAll, softmaxRows, thresholdRows, topkRows, type ScoreRows } from './scores.js';
import type {
  ModelIo,
  OutputStep,
  OutputStepKind,
  StepContext,
  StepInit,
  Tensors,
} from './step.js';

/** ERR_MODEL_CONFIG_INVALID for the output step `name` of model.json. */
export const configError = (name: string, message: string): ConveyorError =>
  new ConveyorError('ERR_MODEL_CONFIG_INVALID', `postprocess "${name}": ${message}`, {
    details: { step: name },
  });

/** The model output a step reads: `from`, or the model's only output. */
export function findOutput(
  name: string,
  from: string | undefined,
  model: ModelIo,
): RuntimeTensorSpec {
  const spec =
    from === undefined
      ? model.outputs.length === 1
        ? model.outputs[0]
        : undefined
      : model.outputs.find((o) => o.name === from);
  if (!spec) {
    const names = model.outputs.map((o) => `"${o.name}"`).join(', ');
    throw configError(
      name,
      from === undefined
        ? `the model has outputs ${names}: name one in "from"`
        : `the model has no output "${from}"; its outputs are ${names}`,
    );
  }
  return spec;
}

/** The model output a score step reads (`findOutput`), which must have a class axis. */
export function sourceOutput(
  name: string,
  from: string | undefined,
  model: ModelIo,
): RuntimeTensorSpec {
  const spec = findOutput(name, from, model);
  if (spec.shape.length === 0) throw configError(name, `output "${spec.name}" has no class axis`);
  return spec;
}

/** Reads a tensor as rows of scores along its last axis. */
function scoreRows(tensor: Tensor, where: string): ScoreRows {
  const classes = tensor.shape[tensor.shape.length - 1] ?? 0;
  if (tensor.dtype === 'string' || classes === 0) {
    throw new ConveyorError(
      'ERR_INFERENCE_FAILED',
      `${where}: output of ${tensor.dtype} [${tensor.shape.join(', ')}] holds no class scores`,
    );
  }
  const data = tensor.data as ArrayLike<number | bigint>;
  const values = new Float64Array(data.length);
  for (let i = 0; i < data.length; i += 1) {
    const v = data[i] as number | bigint;
    values[i] = tensor.dtype === 'float16' ? halfToNumber(v as number) : Number(v);
  }
  return { rows: values.length / classes, classes, values };
}

async function loadLabels(labels: Labels | undefined, context: StepContext): Promise<string[]> {
  if (labels === undefined) return [];
  if (Array.isArray(labels)) return labels;
  const lines = (await context.readText(labels)).split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();
  return lines;
}

/** Label lookup for a step: checked against a fixed class count now, a free one at run time. */
async function labelsFor(
  init: StepInit<{ labels?: Labels | undefined }>,
  source: RuntimeTensorSpec,
): Promise<(index: number, classes: number) => string> {
  const labels = await loadLabels(init.config.labels, init.context);
  const fixed = source.shape[source.shape.length - 1] ?? -1;
  if (labels.length > 0 && fixed !== -1 && labels.length !== fixed) {
    throw configError(init.name, `${labels.length} labels for ${fixed} classes`);
  }
  return (index, classes) => {
    if (labels.length === 0) return index < 0 ? '' : String(index);
    if (labels.length !== classes) {
      throw new ConveyorError(
        'ERR_INFERENCE_FAILED',
        `postprocess "${init.name}": ${labels.length} labels for ${classes} classes`,
      );
    }
    return index < 0 ? '' : (labels[index] as string);
  };
}

function activate(scores: ScoreRows, activation: 'none' | 'softmax' | 'sigmoid'): ScoreRows {
  if (activation === 'softmax') softmaxRows(scores);
  if (activation === 'sigmoid') sigmoidAll(scores);
  return scores;
}

const spec = (name: string, dtype: 'string' | 'float32', shape: number[]): TensorSpec => ({
  name,
  dtype,
  shape,
});

function outputTensor<D extends 'string' | 'float32'>(
  dtype: D,
  shape: number[],
  data: D extends 'string' ? string[] : Float32Array,
): Tensor {
  return createTensor(dtype, shape, data as never, Number.POSITIVE_INFINITY, 'postprocess');
}

/**
 * A label step's outputs: the label of each chosen class (`name`) and, unless `score` is false,
 * its score, both of `shape`.
 */
function labelled(
  name: string,
  score: string | false,
  shape: number[],
  chosen: { index: Int32Array; score: Float32Array },
  label: (index: number) => string,
): Record<string, Tensor> {
  const out: Record<string, Tensor> = {
    [name]: outputTensor('string', shape, Array.from(chosen.index, label)),
  };
  if (score !== false) out[score] = outputTensor('float32', shape, chosen.score);
  return out;
}

/** Builds an output step from what every kind shares: its source, and a run over score rows. */
function scoreStep(
  source: RuntimeTensorSpec,
  external: TensorSpec[],
  run: (tensor: Tensor, scores: ScoreRows, lead: number[]) => Record<string, Tensor>,
): OutputStep {
  return {
    external,
    reads: [source.name],
    run(outputs: Tensors) {
      const tensor = outputs[source.name];
      if (!tensor) throw new ConveyorError('ERR_INFERENCE_FAILED', `no output "${source.name}"`);
      return Promise.resolve(
        run(tensor, scoreRows(tensor, source.name), tensor.shape.slice(0, -1)),
      );
    },
  };
}

export const SOFTMAX_STEP: OutputStepKind<SoftmaxStep> = {
  role: 'output',
  create(init) {
    const source = sourceOutput(init.name, init.config.from, init.model);
    return Promise.resolve(
      scoreStep(source, [spec(init.name, 'float32', source.shape)], (tensor, scores) => {
        softmaxRows(scores);
        const data = Float32Array.from(scores.values);
        return { [init.name]: outputTensor('float32', [...tensor.shape], data) };
      }),
    );
  },
};

export const ARGMAX_STEP: OutputStepKind<ArgmaxStep> = {
  role: 'output',
  async create(init) {
    const { config, name } = init;
    const source = sourceOutput(name, config.from, init.model);
    const label = await labelsFor(init, source);
    const lead = source.shape.slice(0, -1);
    const external = [spec(name, 'string', lead)];
    if (config.score !== false) external.push(spec(config.score, 'float32', lead));
    return scoreStep(source, external, (_tensor, scores, shape) => {
      const best = topkRows(activate(scores, config.activation), 1);
      return labelled(name, config.score, shape, best, (i) => label(i, scores.classes));
    });
  },
};

export const TOPK_STEP: OutputStepKind<TopkStep> = {
  role: 'output',
  async create(init) {
    const { config, name } = init;
    const source = sourceOutput(name, config.from, init.model);
    const classes = source.shape[source.shape.length - 1] ?? -1;
    if (classes !== -1 && config.k > classes) {
      throw configError(name, `k is ${config.k} but the model has ${classes} classes`);
    }
    const label = await labelsFor(init, source);
    const dims = [...source.shape.slice(0, -1), config.k];
    const external = [spec(name, 'string', dims)];
    if (config.score !== false) external.push(spec(config.score, 'float32', dims));
    return scoreStep(source, external, (_tensor, scores, lead) => {
      if (config.k > scores.classes) {
        throw new ConveyorError(
          'ERR_INFERENCE_FAILED',
          `postprocess "${name}": k is ${config.k} but the output has ${scores.classes} classes`,
        );
      }
      const best = topkRows(activate(scores, config.activation), config.k);
      return labelled(name, config.score, [...lead, config.k], best, (i) =>
        label(i, scores.classes),
      );
    });
  },
};

export const THRESHOLD_STEP: OutputStepKind<ThresholdStep> = {
  role: 'output',
  async create(init) {
    const { config, name } = init;
    const source = sourceOutput(name, config.from, init.model);
    const thresholds = Array.isArray(config.threshold) ? config.threshold : [config.threshold];
    const classes = source.shape[source.shape.length - 1] ?? -1;
    if (thresholds.length > 1 && classes !== -1 && thresholds.length !== classes) {
      throw configError(name, `${thresholds.length} thresholds for ${classes} classes`);
    }
    const label = await labelsFor(init, source);
    const external = [spec(name, 'string', source.shape)];
    if (config.score !== false) external.push(spec(config.score, 'float32', source.shape));
    return scoreStep(source, external, (tensor, scores) => {
      if (thresholds.length > 1 && thresholds.length !== scores.classes) {
        throw new ConveyorError(
          'ERR_INFERENCE_FAILED',
          `postprocess "${name}": ${thresholds.length} thresholds for ${scores.classes} classes`,
        );
      }
      const kept = thresholdRows(activate(scores, config.activation), thresholds);
      return labelled(name, config.score, [...tensor.shape], kept, (i) => label(i, scores.classes));
    });
  },
};
