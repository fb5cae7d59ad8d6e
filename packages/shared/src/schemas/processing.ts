/**
 * @file model.json's `preprocess` and `postprocess`: declarative steps between what clients send
 * and get and the model's own tensors. Each kind's schema lives in its own file.
 */
import { z } from 'zod';
import { TensorNameSchema } from './names.js';
import { ImageStepSchema } from './processing-image.js';
import { BoxesStepSchema, CtcStepSchema } from './processing-ocr.js';
import {
  ArgmaxStepSchema,
  SoftmaxStepSchema,
  ThresholdStepSchema,
  TopkStepSchema,
} from './processing-outputs.js';
import { RecordStepSchema } from './processing-record.js';
import { TextStepSchema } from './processing-text.js';

/** A preprocessing step: turns one external input into model input(s). */
export const InputStepSchema = z.discriminatedUnion('kind', [
  ImageStepSchema,
  RecordStepSchema,
  TextStepSchema,
]);

/** A postprocessing step: turns model output(s) into external output(s). */
export const OutputStepSchema = z.discriminatedUnion('kind', [
  SoftmaxStepSchema,
  ArgmaxStepSchema,
  TopkStepSchema,
  ThresholdStepSchema,
  BoxesStepSchema,
  CtcStepSchema,
]);

/**
 * External input name -> the step that turns it into model inputs. Model inputs no step feeds
 * stay inputs clients send as tensors.
 */
export const PreprocessSchema = z.record(TensorNameSchema, InputStepSchema);

/**
 * External output name -> the step that makes it from model outputs. With any step, clients get
 * the steps' outputs only; the model's raw outputs on request (`raw`).
 */
export const PostprocessSchema = z.record(TensorNameSchema, OutputStepSchema);

export type InputStepConfig = z.infer<typeof InputStepSchema>;
export type OutputStepConfig = z.infer<typeof OutputStepSchema>;
export type Preprocess = z.infer<typeof PreprocessSchema>;
export type Postprocess = z.infer<typeof PostprocessSchema>;
