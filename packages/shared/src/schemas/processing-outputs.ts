import { z } from 'zod';
import { TensorNameSchema } from './names.js';

/**
 * Class labels: inline, or the name of a file in the version folder with one label per line
 * (blank lines at the end ignored). Without labels, a class is named by its index ("0", "1", ...).
 */
export const LabelsSchema = z.union([
  z.array(z.string()).min(1).max(100_000),
  z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { message: 'a plain file name of the version folder' }),
]);

/** What turns a model's scores into probabilities first: nothing (default), softmax or sigmoid. */
const activation = z.enum(['none', 'softmax', 'sigmoid']).default('none');

const common = {
  /** The model output read, scores along its last axis. Default: the model's only output. */
  from: TensorNameSchema.optional(),
};

/** Output step `softmax`: the probabilities of the model output's last axis, float32. */
export const SoftmaxStepSchema = z.object({ kind: z.literal('softmax'), ...common }).strict();

/**
 * Output step `argmax`: the label of the highest score of each row (a string, shape of the model
 * output without its last axis) and, unless `score` is false, that score (float32) as the output
 * named `score`.
 */
export const ArgmaxStepSchema = z
  .object({
    kind: z.literal('argmax'),
    ...common,
    labels: LabelsSchema.optional(),
    activation,
    /** The name of the score output, or false for none. Default `score`. */
    score: z.union([TensorNameSchema, z.literal(false)]).default('score'),
  })
  .strict();

/**
 * Output step `topk`: the `k` best labels of each row, best first (string, last axis k), and
 * unless `score` is false their scores (float32) as the output named `score`.
 */
export const TopkStepSchema = z
  .object({
    kind: z.literal('topk'),
    ...common,
    k: z.number().int().min(1).max(1000),
    labels: LabelsSchema.optional(),
    activation,
    /** The name of the scores output, or false for none. Default `scores`. */
    score: z.union([TensorNameSchema, z.literal(false)]).default('scores'),
  })
  .strict();

/**
 * Output step `threshold` (multi-label): the labels whose score reaches `threshold`, best first,
 * as a string tensor whose last axis has one entry per class, "" after the last label kept; and
 * unless `score` is false their scores (0 after the last).
 */
export const ThresholdStepSchema = z
  .object({
    kind: z.literal('threshold'),
    ...common,
    /** One threshold for every class, or one per class. */
    threshold: z.union([z.number(), z.array(z.number()).min(1).max(100_000)]),
    labels: LabelsSchema.optional(),
    activation: z.enum(['none', 'softmax', 'sigmoid']).default('sigmoid'),
    /** The name of the scores output, or false for none. Default `scores`. */
    score: z.union([TensorNameSchema, z.literal(false)]).default('scores'),
  })
  .strict();

export type Labels = z.infer<typeof LabelsSchema>;
export type SoftmaxStep = z.infer<typeof SoftmaxStepSchema>;
export type ArgmaxStep = z.infer<typeof ArgmaxStepSchema>;
export type TopkStep = z.infer<typeof TopkStepSchema>;
export type ThresholdStep = z.infer<typeof ThresholdStepSchema>;
