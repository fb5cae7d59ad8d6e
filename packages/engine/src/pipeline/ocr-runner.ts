/**
 * @file The `ocr` pipeline: one encoded page in, its lines out (`readPage` with the pipeline's
 * models), as `text` string [L], `confidence` float32 [L], `box` float32 [L, 4, 2].
 */
import {
  ConveyorError,
  DEFAULT_MAX_TENSOR_BYTES,
  type ModelRef,
  type OcrPipeline,
  type Postprocess,
  type Preprocess,
} from '@conveyor/shared';
import type { ModelEntry } from '../model-repository.js';
import { dictionaryClasses } from '../processing/ocr/ctc.js';
import {
  OCR_STEP_NAMES,
  processedDetector,
  processedRecognizer,
  rawDetector,
  rawRecognizer,
  type ModelCall,
  type OcrModels,
  type ProcessedCall,
} from '../processing/ocr/ocr-models.js';
import { DETECTOR_IMAGE, linesToTensors, readPage } from '../processing/ocr/read-page.js';
import { createStepContext } from '../processing/step-context.js';
import type { PipelineRunner } from './runner.js';

/** How the pipeline reaches its models. */
export interface OcrCalls {
  /** A model of the repository, called raw. */
  raw(ref: Extract<ModelRef, { model: string }>): ModelCall;
  /** An .onnx file of the pipeline's folder, with these steps run on its inference thread. */
  file(file: string, steps: { preprocess?: Preprocess; postprocess?: Postprocess }): ProcessedCall;
}

/** A classifier of the pipeline's folder, called for its first output. */
function fileClassifier(call: ProcessedCall): ModelCall {
  return async (lines) => {
    const only = Object.values(await call(lines, [], true))[0];
    if (!only) throw new ConveyorError('ERR_INFERENCE_FAILED', 'the classifier gave no output');
    return only;
  };
}

/**
 * The detector, recogniser and classifier of a pipeline: its own files run their steps on their
 * threads.
 */
async function ocrModels(
  entry: ModelEntry,
  pipeline: OcrPipeline,
  calls: OcrCalls,
  maxTensorBytes: number,
): Promise<OcrModels> {
  const detectorImage = {
    ...DETECTOR_IMAGE,
    maxSide: pipeline.maxSide,
    maxPixels: pipeline.maxPixels,
  };
  const { detector, recognizer, classifier } = pipeline;
  const boxes = { kind: 'boxes' as const, ...pipeline.boxes };
  const ctc = {
    kind: 'ctc' as const,
    dictionary: pipeline.dictionary,
    blank: pipeline.blank,
    space: pipeline.space,
  };
  // Read here even when the recogniser's thread decodes: a missing dictionary fails the load.
  const context = createStepContext(entry.dir, { maxTensorBytes });
  const classes = dictionaryClasses(await context.readText(pipeline.dictionary), pipeline);
  const classify =
    classifier &&
    ('file' in classifier
      ? fileClassifier(calls.file(classifier.file, {}))
      : calls.raw(classifier));
  return {
    detect:
      'file' in detector
        ? processedDetector(
            calls.file(detector.file, {
              preprocess: { [OCR_STEP_NAMES.page]: detectorImage },
              postprocess: { [OCR_STEP_NAMES.boxes]: boxes },
            }),
          )
        : rawDetector(calls.raw(detector), detectorImage, pipeline.boxes, maxTensorBytes),
    classifier: classify,
    recognize:
      'file' in recognizer
        ? processedRecognizer(
            calls.file(recognizer.file, { postprocess: { [OCR_STEP_NAMES.text]: ctc } }),
          )
        : rawRecognizer(calls.raw(recognizer), classes, pipeline.blank),
  };
}

/** Builds the OCR runner: its three models, and how it answers a page. */
export async function createOcrRunner(
  entry: ModelEntry,
  pipeline: OcrPipeline,
  calls: OcrCalls,
  maxTensorBytes = DEFAULT_MAX_TENSOR_BYTES,
): Promise<PipelineRunner> {
  const models = await ocrModels(entry, pipeline, calls, maxTensorBytes);
  const options = {
    detector: { ...DETECTOR_IMAGE, maxSide: pipeline.maxSide, maxPixels: pipeline.maxPixels },
    turnThreshold: pipeline.turnThreshold,
    batchSize: pipeline.batchSize,
  };
  const input = pipeline.input;
  return {
    async run(given) {
      const page = (given[input]?.data as unknown[] | undefined)?.[0];
      if (!(page instanceof Uint8Array))
        throw new ConveyorError(
          'ERR_INPUT_SHAPE',
          `input "${input}" takes one encoded image, as bytes of shape [1]`,
        );
      return { ...linesToTensors(await readPage(page, models, options), maxTensorBytes) };
    },
  };
}
