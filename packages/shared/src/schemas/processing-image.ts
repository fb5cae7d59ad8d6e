import { z } from 'zod';
import { TensorNameSchema } from './names.js';

/**
 * How an image is brought to the target size: `fill` stretches it to `width` x `height`;
 * `contain` scales it to fit inside, keeping its aspect, and pads the rest; `cover` scales it to
 * cover the target, keeping its aspect, and crops the overflow (centred); `inside` scales it down
 * only as far as needed to fit `width` x `height` (or `maxSide`), and pads nothing but to
 * `multipleOf`; `height` scales it to `height` keeping its aspect, its width capped at `width`
 * (squeezed beyond) and padded to `width`, as PaddleOCR's text classifier and recogniser do.
 */
export const IMAGE_FITS = ['fill', 'contain', 'cover', 'inside', 'height'] as const;

export type ImageFit = (typeof IMAGE_FITS)[number];

const side = z.number().int().min(1).max(16384);

/** Per-channel values: one for every channel, or one per channel in the step's colour order. */
const perChannel = z.array(z.number()).min(1).max(3);

/**
 * Preprocessing step `image`: each row of the external input is one encoded image (PNG, JPEG,
 * WebP, ...). It is decoded with sharp (EXIF orientation applied, alpha flattened on white),
 * resized, turned into `color` order, normalised as (pixel * scale - mean[c]) / std[c] and
 * written as one row of the float32 model input in `layout`; padding is `padValue` in that
 * normalised space. An image of more than `maxPixels` pixels is refused from its header, before
 * it is decoded (ERR_IMAGE_TOO_LARGE); one that does not decode, with ERR_IMAGE_INVALID.
 */
export const ImageStepSchema = z
  .object({
    kind: z.literal('image'),
    /** The model input filled. Default: the model's only input. */
    input: TensorNameSchema.optional(),
    /** Target width in pixels. Required by every fit but `inside`. */
    width: side.optional(),
    /** Target height in pixels. Required by every fit but `inside`. */
    height: side.optional(),
    /** Default `fill`. */
    fit: z.enum(IMAGE_FITS).default('fill'),
    /** With `inside`: the longest side allowed, scaling down larger images. */
    maxSide: side.optional(),
    /** Pad the right and bottom so each side is a multiple of this (detectors: 32). */
    multipleOf: z.number().int().min(1).max(1024).optional(),
    /**
     * sharp's resampling kernel. Default `lanczos3`; `linear` is OpenCV's default (cv2.resize),
     * which models trained with OpenCV preprocessing (PaddleOCR) saw.
     */
    kernel: z
      .enum(['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3'])
      .default('lanczos3'),
    /** Where `contain` puts the image: `centre` (default) or `top-left` (padding right/bottom). */
    position: z.enum(['centre', 'top-left']).default('centre'),
    /** The tensor value of padded elements, after normalisation. Default 0. */
    padValue: z.number().default(0),
    /** Channel order of the tensor: `rgb` (default), `bgr` (OpenCV-trained models) or `gray`. */
    color: z.enum(['rgb', 'bgr', 'gray']).default('rgb'),
    /** Multiplies each 0..255 pixel value first. Default 1/255. */
    scale: z.number().default(1 / 255),
    /** Subtracted after scaling, per channel. Default 0. */
    mean: perChannel.default([0]),
    /** Divides after the mean, per channel; never 0. Default 1. */
    std: perChannel
      .refine((v) => v.every((s) => s !== 0), { message: 'std is never 0' })
      .default([1]),
    /** `nchw` (default) or `nhwc`. */
    layout: z.enum(['nchw', 'nhwc']).default('nchw'),
    /** Largest image accepted, in pixels (width x height), read from its header. Default 40 MP. */
    maxPixels: z.number().int().min(1).max(1_000_000_000).default(40_000_000),
  })
  .strict()
  .superRefine((step, ctx) => {
    const issue = (path: string, message: string): void => {
      ctx.addIssue({ code: 'custom', path: [path], message });
    };
    if (step.fit === 'inside') {
      if ((step.width === undefined) !== (step.height === undefined))
        issue('width', 'inside takes both width and height, or neither');
    } else {
      if (step.width === undefined) issue('width', `fit ${step.fit} needs a width`);
      if (step.height === undefined) issue('height', `fit ${step.fit} needs a height`);
      if (step.maxSide !== undefined) issue('maxSide', 'maxSide applies to fit inside only');
    }
    const channels = step.color === 'gray' ? 1 : 3;
    for (const key of ['mean', 'std'] as const) {
      const n = step[key].length;
      if (n !== 1 && n !== channels)
        issue(key, `${n} values for ${channels} channel(s): give 1 or ${channels}`);
    }
  });

export type ImageStep = z.infer<typeof ImageStepSchema>;
export type ImageStepInput = z.input<typeof ImageStepSchema>;
