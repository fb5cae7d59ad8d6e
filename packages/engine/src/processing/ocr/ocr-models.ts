/**
 * @file The three models of a page read, as `readPage` calls them. A model of the pipeline's own
 * folder runs its pre- and post-processing on its inference thread (the detector decodes and
 * resizes the page and finds its boxes there, the recogniser decodes its CTC there), so only
 * boxes and text come back to the event loop. A model of the repository is called raw, and its
 * output decoded here.
 */
import { ConveyorError, createTensor, type ImageStep, type Tensor } from '@conveyor/shared';
import { layoutImages } from '../image-layout.js';
import { imageSize, imagesToTensor } from '../image.js';
import type { ImageFrame } from '../step.js';
import { ctcDecode, type DecodedText } from './ctc.js';
import { extractBoxes, type BoxesOptions, type TextBox } from './db-boxes.js';
import type { Quad } from './geometry.js';
import { mapFrame } from './ocr-steps.js';

/** One model called raw: its one float32 input in, its one output out. */
export type ModelCall = (input: Tensor<'float32'>) => Promise<Tensor>;

/**
 * Runs a model of the pipeline's folder with its processing: its one input in, named outputs out.
 * With `transfer`, the input's buffer moves to the inference thread (only for one nobody else
 * holds).
 */
export type ProcessedCall = (
  input: Tensor,
  outputs: readonly string[],
  transfer?: boolean,
) => Promise<Record<string, Tensor>>;

export interface OcrModels {
  /** The text boxes of an encoded page, in its pixels, in no particular order. */
  readonly detect: (page: Uint8Array) => Promise<TextBox[]>;
  /** Direction classifier: [N, 3, 48, 192] lines to [N, 2] ("0", "180"). Optional. */
  readonly classifier?: ModelCall | undefined;
  /** The text of [N, 3, 48, W] lines, in order. */
  readonly recognize: (lines: Tensor<'float32'>) => Promise<DecodedText[]>;
}

/** Names of the processing steps the pipeline gives its own files (see load-pipeline.ts). */
export const OCR_STEP_NAMES = { page: 'page', boxes: 'boxes', text: 'text' } as const;

export function floats(tensor: Tensor | undefined, what: string, rank: number): Float32Array {
  if (tensor?.dtype !== 'float32' || tensor.shape.length !== rank)
    throw new ConveyorError(
      'ERR_INFERENCE_FAILED',
      `the ${what} gave ${tensor?.dtype ?? 'nothing'} [${tensor?.shape.join(', ') ?? ''}], not float32 of rank ${rank}`,
    );
  return tensor.data as Float32Array;
}

/** A detector of the pipeline's folder: page bytes in, `boxes` [1, K, 4, 2] in page pixels out. */
export function processedDetector(call: ProcessedCall): OcrModels['detect'] {
  const output = OCR_STEP_NAMES.boxes;
  return async (page) => {
    const out = await call(createTensor('bytes', [1], [page]), [output, `${output}_score`]);
    const corners = floats(out[output], 'detector', 4);
    const scores = floats(out[`${output}_score`], 'detector', 2);
    return Array.from(scores, (score, k) => ({
      score,
      box: [0, 1, 2, 3].map((i) => ({
        x: corners[(k * 4 + i) * 2]!,
        y: corners[(k * 4 + i) * 2 + 1]!,
      })) as unknown as Quad,
    }));
  };
}

/** A recogniser of the pipeline's folder: lines in, `text` and `text_confidence` out. */
export function processedRecognizer(call: ProcessedCall): OcrModels['recognize'] {
  const { text } = OCR_STEP_NAMES;
  return async (lines) => {
    // The batch was made for this call alone: it moves to the thread instead of being copied.
    const out = await call(lines, [text, `${text}_confidence`], true);
    const confidence = floats(out[`${text}_confidence`], 'recogniser', 1);
    const read = out[text]?.data;
    if (!Array.isArray(read) || read.length !== confidence.length)
      throw new ConveyorError('ERR_INFERENCE_FAILED', 'the recogniser gave no text for its lines');
    return read.map((line, i) => ({ text: String(line), confidence: confidence[i]! }));
  };
}

/** A detector of the repository, called raw: the page resized here, its map read here. */
export function rawDetector(
  call: ModelCall,
  step: ImageStep,
  boxes: BoxesOptions,
  maxTensorBytes: number,
): OcrModels['detect'] {
  return async (page) => {
    const size = await imageSize(page, step.maxPixels, 0);
    const input = await imagesToTensor([page], step, maxTensorBytes);
    const map = await call(input);
    const data = floats(map, 'detector', 4);
    const [height = 0, width = 0] = map.shape.slice(2);
    const [inputHeight = 0, inputWidth = 0] = input.shape.slice(2);
    const placement = layoutImages(step, [size]).placements[0]!;
    const frame: ImageFrame = {
      ...size,
      inputWidth,
      inputHeight,
      left: placement.left,
      top: placement.top,
      contentWidth: placement.width,
      contentHeight: placement.height,
    };
    return extractBoxes({ data, width, height }, boxes, mapFrame(width, height, frame));
  };
}

/** A recogniser of the repository, called raw: its scores decoded here. */
export function rawRecognizer(
  call: ModelCall,
  classes: readonly string[],
  blank: number,
): OcrModels['recognize'] {
  return async (lines) => {
    const scores = await call(lines);
    const data = floats(scores, 'recogniser', 3);
    const [n = 0, steps = 0, width = 0] = scores.shape;
    return ctcDecode({ data, dims: [n, steps, width] }, classes, blank);
  };
}
