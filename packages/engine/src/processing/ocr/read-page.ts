/**
 * @file A page read end to end by the PP-OCR models: detection (through the image step's
 * resize), DB boxes scaled back to the image, upright crops, direction, recognition in groups
 * of similar aspect, CTC decoding. The `ocr` pipeline runs this with the repository's models.
 */
import sharp from 'sharp';
import {
  BoxesStepSchema,
  ConveyorError,
  DEFAULT_MAX_TENSOR_BYTES,
  ImageStepSchema,
  createTensor,
  type ImageStep,
  type Tensor,
} from '@conveyor/shared';
import { layoutImages } from '../image-layout.js';
import { imagesToTensor } from '../image.js';
import { cropQuad, rotateHalf, sortBoxes, type RawImage } from './crop.js';
import { ctcDecode } from './ctc.js';
import { extractBoxes, type BoxesOptions } from './db-boxes.js';
import type { Quad } from './geometry.js';
import { classifierBatch, recognizerBatch, type LineBatch } from './line-input.js';

/** One model of the pipeline: its one float32 input in, its one output out. */
export type ModelCall = (input: Tensor<'float32'>) => Promise<Tensor>;

export interface OcrModels {
  /** Text detector: [1, 3, H, W] image to a [1, 1, H, W] probability map. */
  readonly detector: ModelCall;
  /** Direction classifier: [N, 3, 48, 192] lines to [N, 2] ("0", "180"). Optional. */
  readonly classifier?: ModelCall | undefined;
  /** Recogniser: [N, 3, 48, W] lines to [N, T, C] class probabilities. */
  readonly recognizer: ModelCall;
}

export interface ReadPageOptions {
  /** The recogniser's classes, blank included (see `dictionaryClasses`). */
  readonly classes: readonly string[];
  /** The blank's index in `classes`. Default 0. */
  readonly blank?: number;
  /** How the page is fed to the detector. Default PP-OCRv4's: longer side at most 960, BGR, ImageNet-normalised, sides padded to multiples of 32. */
  readonly detector?: ImageStep;
  /** DB post-processing. Default PP-OCRv4's (BoxesStepSchema's defaults). */
  readonly boxes?: BoxesOptions;
  /** A line is turned over when the classifier's "180" probability exceeds this. Default 0.9. */
  readonly turnThreshold?: number;
  /** Lines per recogniser call, grouped by aspect ratio. Default 6 (PaddleOCR's). */
  readonly batchSize?: number;
  /** Largest detector input, in bytes. Default DEFAULT_MAX_TENSOR_BYTES (64 MiB). */
  readonly maxTensorBytes?: number;
}

/** A line read from the page: its text, the mean probability of its characters, its box in image pixels. */
export interface OcrLine {
  readonly text: string;
  readonly confidence: number;
  readonly box: Quad;
}

export const DETECTOR_IMAGE: ImageStep = ImageStepSchema.parse({
  kind: 'image',
  fit: 'inside',
  maxSide: 960,
  multipleOf: 32,
  color: 'bgr',
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
});

const DEFAULT_BOXES: BoxesOptions = BoxesStepSchema.parse({ kind: 'boxes' });

async function decodeRgb(bytes: Uint8Array, maxPixels: number): Promise<RawImage> {
  try {
    const { data, info } = await sharp(bytes, { autoOrient: true, limitInputPixels: maxPixels })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const rgb = new Uint8Array(data.buffer, data.byteOffset, data.length);
    return { data: rgb, width: info.width, height: info.height, channels: info.channels };
  } catch (error) {
    throw new ConveyorError('ERR_IMAGE_INVALID', 'the page cannot be decoded', { cause: error });
  }
}

function floats(tensor: Tensor, what: string, rank: number): Float32Array {
  if (tensor.dtype !== 'float32' || tensor.shape.length !== rank)
    throw new ConveyorError(
      'ERR_INFERENCE_FAILED',
      `the ${what} gave ${tensor.dtype} [${tensor.shape.join(', ')}], not float32 of rank ${rank}`,
    );
  return tensor.data as Float32Array;
}

const asTensor = (batch: LineBatch): Tensor<'float32'> =>
  createTensor('float32', batch.dims, batch.data);

async function detect(
  input: Tensor<'float32'>,
  image: RawImage,
  models: OcrModels,
  options: ReadPageOptions,
) {
  const step = options.detector ?? DETECTOR_IMAGE;
  const map = await models.detector(input);
  const data = floats(map, 'detector', 4);
  const [height = 0, width = 0] = map.shape.slice(2);
  const placement = layoutImages(step, [image]).placements[0]!;
  // The image fills the top-left of the detector's canvas; the map may be a scaled copy of it.
  const frame = {
    width: image.width,
    height: image.height,
    contentWidth: (placement.width * width) / input.shape[3]!,
    contentHeight: (placement.height * height) / input.shape[2]!,
  };
  return sortBoxes(extractBoxes({ data, width, height }, options.boxes ?? DEFAULT_BOXES, frame));
}

async function upright(
  crops: RawImage[],
  models: OcrModels,
  threshold: number,
): Promise<RawImage[]> {
  if (!models.classifier || crops.length === 0) return crops;
  const turned = floats(
    await models.classifier(asTensor(await classifierBatch(crops))),
    'classifier',
    2,
  );
  return crops.map((crop, i) => (turned[i * 2 + 1]! > threshold ? rotateHalf(crop) : crop));
}

async function recognize(crops: RawImage[], models: OcrModels, options: ReadPageOptions) {
  const order = crops
    .map((_, i) => i)
    .sort((a, b) => crops[a]!.width / crops[a]!.height - crops[b]!.width / crops[b]!.height);
  const read = new Array<{ text: string; confidence: number }>(crops.length);
  const size = options.batchSize ?? 6;
  for (let start = 0; start < order.length; start += size) {
    const group = order.slice(start, start + size);
    const scores = await models.recognizer(
      asTensor(await recognizerBatch(group.map((i) => crops[i]!))),
    );
    const data = floats(scores, 'recogniser', 3);
    const [n = 0, steps = 0, classes = 0] = scores.shape;
    const lines = ctcDecode(
      { data, dims: [n, steps, classes] },
      options.classes,
      options.blank ?? 0,
    );
    group.forEach((index, k) => (read[index] = lines[k]!));
  }
  return read;
}

/** Reads the lines of an encoded page (PNG, JPEG, WebP), in reading order. */
export async function readPage(
  page: Uint8Array,
  models: OcrModels,
  options: ReadPageOptions,
): Promise<OcrLine[]> {
  const step = options.detector ?? DETECTOR_IMAGE;
  // The image step checks the pixel limit from the header, before anything is decoded.
  const input = await imagesToTensor(
    [page],
    step,
    options.maxTensorBytes ?? DEFAULT_MAX_TENSOR_BYTES,
  );
  const image = await decodeRgb(page, step.maxPixels);
  const boxes = await detect(input, image, models, options);
  if (boxes.length === 0) return [];
  const crops = await upright(
    boxes.map((b) => cropQuad(image, b.box)),
    models,
    options.turnThreshold ?? 0.9,
  );
  const read = await recognize(crops, models, options);
  return boxes.map((b, i) => ({ ...read[i]!, box: b.box }));
}

/**
 * The lines as the `ocr` model answers them: `text` string [L], `confidence` float32 [L] and
 * `box` float32 [L, 4, 2] (top-left, top-right, bottom-right, bottom-left, in image pixels).
 */
export function linesToTensors(
  lines: readonly OcrLine[],
  maxTensorBytes = DEFAULT_MAX_TENSOR_BYTES,
): { text: Tensor; confidence: Tensor; box: Tensor } {
  const corners = new Float32Array(lines.length * 8);
  lines.forEach((line, i) => line.box.forEach((p, k) => corners.set([p.x, p.y], i * 8 + k * 2)));
  const where = 'ocr lines';
  return {
    text: createTensor(
      'string',
      [lines.length],
      lines.map((l) => l.text),
      maxTensorBytes,
      where,
    ),
    confidence: createTensor(
      'float32',
      [lines.length],
      Float32Array.from(lines, (l) => l.confidence),
      maxTensorBytes,
      where,
    ),
    box: createTensor('float32', [lines.length, 4, 2], corners, maxTensorBytes, where),
  };
}
