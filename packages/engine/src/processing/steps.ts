/**
 * @file Every kind of processing step, in one frozen table: model.json's `kind` -> its
 * implementation. A kind of the schemas not yet here is refused when a version loads.
 */
import type { InputStepConfig, OutputStepConfig } from '@conveyor/shared';
import { IMAGE_STEP } from './image.js';
import { BOXES_STEP, CTC_STEP } from './ocr/ocr-steps.js';
import { ARGMAX_STEP, SOFTMAX_STEP, THRESHOLD_STEP, TOPK_STEP } from './outputs.js';
import { RECORD_STEP } from './record.js';
import type { InputStepKind, OutputStepKind } from './step.js';
import { TEXT_STEP } from './text.js';

type InputKinds = {
  readonly [K in InputStepConfig['kind']]?: InputStepKind<Extract<InputStepConfig, { kind: K }>>;
};
type OutputKinds = {
  readonly [K in OutputStepConfig['kind']]?: OutputStepKind<Extract<OutputStepConfig, { kind: K }>>;
};

/** Input step kinds: external input -> model inputs. */
export const INPUT_STEPS: InputKinds = Object.freeze({
  image: IMAGE_STEP,
  record: RECORD_STEP,
  text: TEXT_STEP,
});

/** Output step kinds: model outputs -> external outputs. */
export const OUTPUT_STEPS: OutputKinds = Object.freeze({
  softmax: SOFTMAX_STEP,
  argmax: ARGMAX_STEP,
  topk: TOPK_STEP,
  threshold: THRESHOLD_STEP,
  boxes: BOXES_STEP,
  ctc: CTC_STEP,
});
