/**
 * @file The `ocr` pipeline: one encoded page in, its lines out (`readPage` with the pipeline's
 * models), as `text` string [L], `confidence` float32 [L], `box` float32 [L, 4, 2].
 */
import {
  ConveyorError,
  DEFAULT_MAX_TENSOR_BYTES,
  type ModelRef,
  type OcrPipeline,
} from '@conveyor/shared';
import type { ModelEntry } from '../model-repository.js';
import { dictionaryClasses } from '../processing/ocr/ctc.js';
import {
  DETECTOR_IMAGE,
  linesToTensors,
  readPage,
  type ModelCall,
  type ReadPageOptions,
} from '../processing/ocr/read-page.js';
import { createStepContext } from '../processing/step-context.js';
import type { PipelineRunner } from './runner.js';

/** Builds the OCR runner: reads the dictionary and makes the calls of its three models. */
export async function createOcrRunner(
  entry: ModelEntry,
  pipeline: OcrPipeline,
  callOf: (ref: ModelRef) => Promise<ModelCall>,
  maxTensorBytes = DEFAULT_MAX_TENSOR_BYTES,
): Promise<PipelineRunner> {
  const context = createStepContext(entry.dir, { maxTensorBytes });
  const classes = dictionaryClasses(await context.readText(pipeline.dictionary), pipeline);
  const models = {
    detector: await callOf(pipeline.detector),
    classifier: pipeline.classifier && (await callOf(pipeline.classifier)),
    recognizer: await callOf(pipeline.recognizer),
  };
  const options: ReadPageOptions = {
    classes,
    blank: pipeline.blank,
    detector: { ...DETECTOR_IMAGE, maxSide: pipeline.maxSide, maxPixels: pipeline.maxPixels },
    boxes: pipeline.boxes,
    turnThreshold: pipeline.turnThreshold,
    batchSize: pipeline.batchSize,
    maxTensorBytes,
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
