import { z } from 'zod';
import { TensorNameSchema } from './names.js';

/**
 * Output step `boxes`: text boxes from a text detector's probability map, following PaddleOCR's
 * DBPostProcess (binarise, find regions, score each by its mean probability, expand it by the
 * unclip ratio, scale it back to the original image). Defaults are PP-OCRv4's.
 */
export const BoxesStepSchema = z
  .object({
    kind: z.literal('boxes'),
    /** The model output holding the [1, 1, H, W] probability map. Default: the only output. */
    from: TensorNameSchema.optional(),
    /** A pixel is text when its probability exceeds this. Default 0.3. */
    threshold: z.number().gt(0).lt(1).default(0.3),
    /** A region is kept when its mean probability reaches this. Default 0.6. */
    boxThreshold: z.number().gt(0).lt(1).default(0.6),
    /** How far a region is grown: area * ratio / perimeter, in map pixels. Default 1.5. */
    unclipRatio: z.number().min(0).max(10).default(1.5),
    /** Most regions considered, largest first. Default 1000. */
    maxCandidates: z.number().int().min(1).max(10_000).default(1000),
    /** Regions whose shorter side is below this many map pixels are dropped. Default 3. */
    minSize: z.number().min(0).max(1000).default(3),
  })
  .strict();

export type BoxesStep = z.infer<typeof BoxesStepSchema>;

/**
 * Output step `ctc`: greedy CTC decoding of a recogniser's [N, T, C] probabilities with a
 * character dictionary: the best class per time step, repeats merged, blanks dropped.
 */
export const CtcStepSchema = z
  .object({
    kind: z.literal('ctc'),
    /** The model output holding the [N, T, C] probabilities. Default: the only output. */
    from: TensorNameSchema.optional(),
    /** The dictionary file inside the model's folder: one character per line. */
    dictionary: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[^/\\\p{Cc}][^\\\p{Cc}]*$/u, { message: 'a relative path inside the model folder' })
      .refine((path) => !path.split('/').includes('..'), {
        message: 'the dictionary stays inside the model folder',
      }),
    /** The class index of the CTC blank. Default 0 (PaddleOCR puts it first). */
    blank: z.number().int().min(0).default(0),
    /** Append a space as the last class, as PaddleOCR's `use_space_char` does. Default true. */
    space: z.boolean().default(true),
  })
  .strict();

export type CtcStep = z.infer<typeof CtcStepSchema>;
