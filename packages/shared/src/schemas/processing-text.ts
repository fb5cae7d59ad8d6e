import { z } from 'zod';
import { TensorNameSchema } from './names.js';

/** How a text longer than one window is split, and how its windows' outputs are joined. */
export const TextChunkSchema = z
  .object({
    /** Tokens in one window, special tokens included; at most `maxLength`. Default `maxLength`. */
    size: z.number().int().min(2).max(65536).optional(),
    /** Tokens shared by two neighbouring windows; less than a window's text tokens. Default 0. */
    overlap: z.number().int().min(0).max(65535).default(0),
    /**
     * How the outputs of one text's windows become that text's outputs: `mean` or `max` over the
     * windows (element-wise, before any postprocess step), or `none`: every window is its own
     * output row and the output `windowsOutput` says which text each row came from.
     */
    aggregate: z.enum(['mean', 'max', 'none']).default('mean'),
    /** Most windows one text may make; more is refused with ERR_TEXT_TOO_LONG. Default 64. */
    maxWindows: z.number().int().min(1).max(4096).default(64),
    /** With `aggregate: none`, the int64 output giving each row's text index. */
    windowsOutput: TensorNameSchema.default('text_index'),
  })
  .strict();

export type TextChunk = z.infer<typeof TextChunkSchema>;

/** The model inputs a text step fills, by the model's input names. */
export const TextInputsSchema = z
  .object({
    /** The token ids. Default `input_ids`. */
    ids: TensorNameSchema.default('input_ids'),
    /** 1 for a token, 0 for padding; `false` when the model has no mask. Default `attention_mask`. */
    mask: z.union([TensorNameSchema, z.literal(false)]).default('attention_mask'),
    /** Token type (segment) ids, all 0 for one text; only when the model takes them. */
    typeIds: TensorNameSchema.optional(),
  })
  .strict();

/**
 * Preprocessing step `text`: one string per row, tokenised with the version folder's
 * `tokenizer.json` (Hugging Face format) into the model's id, mask and type-id inputs, in the
 * model's integer dtype, each row padded to the longest row or to `maxLength`. A text longer than
 * `maxLength` tokens is truncated, refused (`truncation: false`) or, with `chunk`, split into
 * overlapping windows run as rows of their own and joined back per text.
 */
export const TextStepSchema = z
  .object({
    kind: z.literal('text'),
    /** The tokenizer file in the version folder. Default `tokenizer.json`. */
    tokenizer: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*\.json$/, { message: 'a plain file name ending in .json' })
      .default('tokenizer.json'),
    /** Most tokens in one row, special tokens included. Default 128. */
    maxLength: z.number().int().min(2).max(65536).default(128),
    /** Cut a longer text to `maxLength` (default true); false refuses it with ERR_TEXT_TOO_LONG. */
    truncation: z.boolean().default(true),
    /** Pad rows to the `longest` row of the request (default) or always to `max_length`. */
    padding: z.enum(['longest', 'max_length']).default('longest'),
    /** Add the tokenizer's special tokens ([CLS], [SEP], ...). Default true. */
    specialTokens: z.boolean().default(true),
    inputs: TextInputsSchema.default(TextInputsSchema.parse({})),
    /** Longest text accepted, in characters; a longer one is refused with ERR_TEXT_TOO_LONG. */
    maxChars: z.number().int().min(1).max(10_000_000).default(100_000),
    /** Split long texts into windows instead of truncating them. */
    chunk: TextChunkSchema.optional(),
  })
  .strict()
  .superRefine((step, ctx) => {
    const size = step.chunk?.size;
    if (size !== undefined && size > step.maxLength) {
      ctx.addIssue({
        code: 'custom',
        path: ['chunk', 'size'],
        message: `a window of ${size} tokens is over maxLength (${step.maxLength})`,
      });
    }
    if (step.chunk && step.chunk.overlap >= (size ?? step.maxLength) - 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['chunk', 'overlap'],
        message: 'the overlap must be smaller than a window',
      });
    }
  });

export type TextStep = z.infer<typeof TextStepSchema>;
export type TextStepInput = z.input<typeof TextStepSchema>;
