/**
 * @file The output steps `boxes` (text boxes from a DB detector's probability map) and `ctc`
 * (text from a CTC recogniser's scores). Boxes are in the pixels of the client's image when an
 * image step made the row (it knows how the image was resized), else in the model input's.
 */
import {
  ConveyorError,
  createTensor,
  type BoxesStep,
  type CtcStep,
  type Tensor,
  type TensorSpec,
} from '@conveyor/shared';
import type { RuntimeTensorSpec } from '../../session.js';
import type {
  ImageFrame,
  ModelIo,
  OutputStep,
  OutputStepKind,
  StepInit,
  Tensors,
} from '../step.js';
import { configError, findOutput } from '../outputs.js';
import { ctcDecode, dictionaryClasses } from './ctc.js';
import { extractBoxes, type MapFrame, type TextBox } from './db-boxes.js';

/** A map of `width` x `height` over the input an image step made: where the image is on it. */
export function mapFrame(width: number, height: number, image?: ImageFrame): MapFrame {
  if (!image) return { width, height };
  const [sx, sy] = [width / image.inputWidth, height / image.inputHeight];
  return {
    width: image.width,
    height: image.height,
    contentWidth: image.contentWidth * sx,
    contentHeight: image.contentHeight * sy,
    contentLeft: image.left * sx,
    contentTop: image.top * sy,
  };
}

/** The model output a step reads, `from` or the only one, with the rank it must have. */
function readOutput(
  name: string,
  from: string | undefined,
  model: ModelIo,
  rank: number,
): RuntimeTensorSpec {
  const spec = findOutput(name, from, model);
  if (spec.dtype !== 'float32' || spec.shape.length !== rank)
    throw configError(
      name,
      `output "${spec.name}" is ${spec.dtype} of rank ${spec.shape.length}, not float32 of rank ${rank}`,
    );
  return spec;
}

function floats(outputs: Tensors, output: string): Tensor<'float32'> {
  const tensor = outputs[output];
  if (tensor?.dtype !== 'float32')
    throw new ConveyorError('ERR_INFERENCE_FAILED', `output "${output}" is not a float32 tensor`);
  return tensor as Tensor<'float32'>;
}

/** Boxes of each row as [rows, K, 4, 2] corners and [rows, K] scores, K the most of any row. */
function packBoxes(rows: readonly TextBox[][], maxBytes: number, where: string): [Tensor, Tensor] {
  const most = Math.max(0, ...rows.map((r) => r.length));
  const corners = new Float32Array(rows.length * most * 8);
  const scores = new Float32Array(rows.length * most);
  rows.forEach((boxes, row) =>
    boxes.forEach(({ box, score }, k) => {
      scores[row * most + k] = score;
      box.forEach((p, i) => corners.set([p.x, p.y], ((row * most + k) * 4 + i) * 2));
    }),
  );
  return [
    createTensor('float32', [rows.length, most, 4, 2], corners, maxBytes, where),
    createTensor('float32', [rows.length, most], scores, maxBytes, where),
  ];
}

/**
 * `boxes`: reads a [N, 1, H, W] probability map; writes `<name>` float32 [N, K, 4, 2], each box's
 * corners (top-left, top-right, bottom-right, bottom-left) in the client's image pixels when an
 * image step made the row (in the model input's pixels otherwise), and `<name>_score`
 * float32 [N, K]; rows with fewer than K boxes are padded with zeros (score 0).
 */
export const BOXES_STEP: OutputStepKind<BoxesStep> = {
  role: 'output',
  create: (init) => Promise.resolve(init).then(createBoxes),
};

function createBoxes({ name, config, model, context }: StepInit<BoxesStep>): OutputStep {
  const source = readOutput(name, config.from, model, 4).name;
  const external: TensorSpec[] = [
    { name, dtype: 'float32', shape: [-1, -1, 4, 2] },
    { name: `${name}_score`, dtype: 'float32', shape: [-1, -1] },
  ];
  return {
    external,
    reads: [source],
    // A bad map rejects the returned promise rather than throwing.
    run: (outputs, frames) => Promise.resolve(outputs).then((o) => boxesOf(o, frames)),
  };

  function boxesOf(outputs: Tensors, frames?: readonly (ImageFrame | undefined)[]): Tensors {
    const map = floats(outputs, source);
    const [rows = 0, channels, height = 0, width = 0] = map.shape;
    if (channels !== 1)
      throw new ConveyorError(
        'ERR_INFERENCE_FAILED',
        `output "${source}" has ${channels} channels, not 1`,
      );
    const plane = height * width;
    const boxes = Array.from({ length: rows }, (_, row) =>
      extractBoxes(
        { data: map.data.subarray(row * plane, (row + 1) * plane), width, height },
        config,
        mapFrame(width, height, frames?.[row]),
      ),
    );
    const [corners, scores] = packBoxes(boxes, context.maxTensorBytes, `postprocess "${name}"`);
    return { [name]: corners, [`${name}_score`]: scores };
  }
}

/**
 * `ctc`: reads [N, T, C] class probabilities; writes `<name>` string [N], each row's text, and
 * `<name>_confidence` float32 [N], the mean probability of its characters.
 */
export const CTC_STEP: OutputStepKind<CtcStep> = {
  role: 'output',
  async create({ name, config, model, context }) {
    const source = readOutput(name, config.from, model, 3);
    const classes = dictionaryClasses(await context.readText(config.dictionary), config);
    const width = source.shape[2] ?? -1;
    if (width !== -1 && width !== classes.length)
      throw configError(
        name,
        `output "${source.name}" scores ${width} classes; the dictionary gives ${classes.length}`,
      );
    const external: TensorSpec[] = [
      { name, dtype: 'string', shape: [-1] },
      { name: `${name}_confidence`, dtype: 'float32', shape: [-1] },
    ];
    return {
      external,
      reads: [source.name],
      run: (outputs) => Promise.resolve(outputs).then(textOf),
    };

    function textOf(outputs: Tensors): Tensors {
      const scores = floats(outputs, source.name);
      const [rows = 0, steps = 0, width = 0] = scores.shape;
      const lines = ctcDecode(
        { data: scores.data, dims: [rows, steps, width] },
        classes,
        config.blank,
      );
      const where = `postprocess "${name}"`;
      return {
        [name]: createTensor(
          'string',
          [rows],
          lines.map((l) => l.text),
          context.maxTensorBytes,
          where,
        ),
        [`${name}_confidence`]: createTensor(
          'float32',
          [rows],
          Float32Array.from(lines, (l) => l.confidence),
          context.maxTensorBytes,
          where,
        ),
      };
    }
  },
};
