/**
 * @file A page read end to end by the PP-OCR models: detection (through the image step's
 * resize), DB boxes scaled back to the image, upright crops, direction, recognition in groups
 * of similar aspect, CTC decoding. The `ocr` pipeline runs this with the repository's models.
 */
import { loadSharp } from '../sharp.js';
import {
  ConveyorError,
  DEFAULT_MAX_TENSOR_BYTES,
  ImageStepSchema,
  createTensor,
  type ImageStep,
  type Tensor,
} from '@conveyor/shared';
import { imageSize } from '../image.js';
import { cropQuad, rotateHalf, sortBoxes, type RawImage } from './crop.js';
import type { Quad } from './geometry.js';
import { classifierBatch, recognizerBatch, type LineBatch } from './line-input.js';
import { floats, type OcrModels } from './ocr-models.js';

export interface ReadPageOptions {
  /**
   * How the page is fed to the detector; its `maxPixels` bounds the page. Default PP-OCRv4's
   * (DETECTOR_IMAGE).
   */
  readonly detector?: ImageStep;
  /** A line is turned over when the classifier's "180" probability exceeds this. Default 0.9. */
  readonly turnThreshold?: number;
  /** Lines per recogniser call, grouped by aspect ratio. Default 6 (PaddleOCR's). */
  readonly batchSize?: number;
}

/**
 * A line read from the page: its text, the mean probability of its characters, its box in image
 * pixels.
 */
export interface OcrLine {
  readonly text: string;
  readonly confidence: number;
  readonly box: Quad;
}

/**
 * PP-OCRv4's detector input: longer side at most 960, BGR, ImageNet-normalised, sides padded to
 * multiples of 32.
 */
export const DETECTOR_IMAGE: ImageStep = ImageStepSchema.parse({
  kind: 'image',
  fit: 'inside',
  maxSide: 960,
  multipleOf: 32,
  color: 'bgr',
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
});

async function decodeRgb(bytes: Uint8Array, maxPixels: number): Promise<RawImage> {
  const sharp = await loadSharp();
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

const asTensor = (batch: LineBatch): Tensor<'float32'> =>
  createTensor('float32', batch.dims, batch.data);

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
  const groups: number[][] = [];
  for (let start = 0; start < order.length; start += size)
    groups.push(order.slice(start, start + size));
  // Every group at once: the recogniser's batcher and threads take them as they can.
  await Promise.all(
    groups.map(async (group) => {
      const lines = await models.recognize(
        asTensor(await recognizerBatch(group.map((i) => crops[i]!))),
      );
      group.forEach((index, k) => (read[index] = lines[k]!));
    }),
  );
  return read;
}

/**
 * Reads the lines of an encoded page (PNG, JPEG, WebP), in reading order. The page's size is read
 * from its header first: a page over the pixel limit is refused before anything is decoded. The
 * detector and the page's decoding (for the crops) then run side by side.
 */
export async function readPage(
  page: Uint8Array,
  models: OcrModels,
  options: ReadPageOptions,
): Promise<OcrLine[]> {
  const step = options.detector ?? DETECTOR_IMAGE;
  await imageSize(page, step.maxPixels, 0);
  const [found, image] = await Promise.all([models.detect(page), decodeRgb(page, step.maxPixels)]);
  const boxes = sortBoxes(found);
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
