import { z } from 'zod';
import { modelKey } from './naming.js';
import { TensorNameSchema } from './schemas/names.js';

/**
 * A model's feedback stream: one entry per feedback (job id, version, the truth, how the
 * prediction scored, and its inputs when they were still known), bounded by FEEDBACK_MAX_LEN.
 * External online trainers read it through a consumer group (docs/lifecycle.md).
 */
export function feedbackKey(prefix: string, model: string): string {
  return modelKey(prefix, model, 'feedback');
}

/**
 * A model's accuracy counts: a hash of fields `<version>|<bucket start ms>|<stat>` (stat `n`
 * labelled, `c` correct, `r` valued, `a` sum of absolute errors, `s` sum of squared errors).
 */
export function accuracyKey(prefix: string, model: string): string {
  return modelKey(prefix, model, 'accuracy');
}

/** The buckets of accuracyKey (member `<version>|<bucket start ms>`, scored by its start). */
export function accuracyBucketsKey(prefix: string, model: string): string {
  return modelKey(prefix, model, 'accuracy', 'buckets');
}

/** Width of one accuracy bucket, ms: windows are read in whole buckets. */
export const ACCURACY_BUCKET_MS = 60_000;

/** The sliding windows live accuracy and error are reported over, by name, in ms. */
export const ACCURACY_WINDOWS = Object.freeze({
  '5m': 5 * 60_000,
  '1h': 3_600_000,
  '24h': 86_400_000,
} as const);

/**
 * Marks a prediction that took feedback: its first receipt and truth (see FEEDBACK_ONCE_MS). One
 * key per prediction, in its model's hash slot, so that the feedback script writes it atomically
 * with the stream and the counts.
 */
export function feedbackOnceKey(prefix: string, model: string, jobId: string): string {
  return modelKey(prefix, model, 'feedback', 'once', jobId);
}

/**
 * How long a prediction's first feedback is remembered, ms: the longest accuracy window, one
 * bucket, and an hour of margin for clock skew between Redis nodes. While it is, a second feedback
 * cannot count the prediction twice in any window.
 */
export const FEEDBACK_ONCE_MS = ACCURACY_WINDOWS['24h'] + ACCURACY_BUCKET_MS + 3_600_000;

export type AccuracyWindow = keyof typeof ACCURACY_WINDOWS;

const Label = z.union([z.number().int().nonnegative(), z.string().min(1).max(256)]);

/**
 * The truth about a prediction, learnt later: `label` (a class index or a class label; one per
 * row, or one for a single-row prediction) for a classifier, or `value` (a number per row) for a
 * regression. `output` names the output it is scored against; default the first output.
 */
export const FeedbackSchema = z
  .object({
    label: z.union([Label, z.array(Label).min(1).max(100_000)]).optional(),
    value: z
      .union([z.number().finite(), z.array(z.number().finite()).min(1).max(100_000)])
      .optional(),
    output: TensorNameSchema.optional(),
  })
  .strict()
  .refine((f) => (f.label === undefined) !== (f.value === undefined), {
    message: 'give either label (a classifier) or value (a regression)',
  });

export type Feedback = z.infer<typeof FeedbackSchema>;

/** What a feedback call recorded. */
export const FeedbackReceiptSchema = z
  .object({
    /** The prediction (job) id. */
    id: z.string(),
    model: z.string(),
    /** The version that made the prediction. */
    version: z.string(),
    /** The feedback stream's entry id. */
    entryId: z.string(),
    kind: z.enum(['label', 'value']),
    /** Rows scored. */
    rows: z.number().int().nonnegative(),
    /** Rows whose top class was the label (labels only). */
    correct: z.number().int().nonnegative().optional(),
    /** Mean absolute error over the rows (values only). */
    meanAbsoluteError: z.number().nonnegative().optional(),
  })
  .strict();

export type FeedbackReceipt = z.infer<typeof FeedbackReceiptSchema>;

/** Accuracy and error of one version over one window; null where it had no such feedback. */
export const WindowAccuracySchema = z
  .object({
    /** Rows with a label. */
    labelled: z.number().int().nonnegative(),
    /** Of those, rows whose top class was the label. */
    correct: z.number().int().nonnegative(),
    /** correct / labelled. */
    accuracy: z.number().min(0).max(1).nullable(),
    /** Rows with a value. */
    valued: z.number().int().nonnegative(),
    /** Mean absolute error. */
    mae: z.number().nonnegative().nullable(),
    /** Root mean squared error. */
    rmse: z.number().nonnegative().nullable(),
  })
  .strict();

export type WindowAccuracy = z.infer<typeof WindowAccuracySchema>;

/** Live accuracy and error of a model's versions over the ACCURACY_WINDOWS ending at `at`. */
export const ModelAccuracySchema = z
  .object({
    model: z.string(),
    /** End of the windows, ms since the epoch (the Redis server's clock). */
    at: z.number().int(),
    versions: z.array(
      z
        .object({
          version: z.string(),
          windows: z.object({
            '5m': WindowAccuracySchema,
            '1h': WindowAccuracySchema,
            '24h': WindowAccuracySchema,
          }),
        })
        .strict(),
    ),
  })
  .strict();

export type ModelAccuracy = z.infer<typeof ModelAccuracySchema>;
