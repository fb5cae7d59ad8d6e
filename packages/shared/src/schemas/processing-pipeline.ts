/**
 * @file model.json's `pipeline`: a version made of other models run one after another inside one
 * job, with no .onnx file of its own. Each kind of pipeline is one entry of a union on `kind`.
 */
import { z } from 'zod';
import { FileSchema, ModelRefSchema } from './model-ref.js';
import { TensorNameSchema } from './names.js';
import { EnsemblePipelineSchema } from './processing-ensemble.js';
import { BoxesStepSchema } from './processing-ocr.js';

/**
 * Pipeline `ocr`: one encoded image (PNG, JPEG, WebP) in; its text lines out, in reading order,
 * as `text` string [L], `confidence` float32 [L] and `box` float32 [L, 4, 2] (corners in image
 * pixels). PP-OCR's chain: detector, DB boxes, crops, optional direction classifier, recogniser,
 * CTC decoding with the dictionary. Each model has one input and one output.
 */
export const OcrPipelineSchema = z
  .object({
    kind: z.literal('ocr'),
    /** The external input: a bytes tensor of shape [1]. Default `image`. */
    input: TensorNameSchema.default('image'),
    /** Text detector: [1, 3, H, W] page to [1, 1, H, W] probabilities. */
    detector: ModelRefSchema,
    /** Direction classifier: [N, 3, 48, 192] lines to [N, 2] ("0", "180"). Optional. */
    classifier: ModelRefSchema.optional(),
    /** Recogniser: [N, 3, 48, W] lines to [N, T, C] class probabilities. */
    recognizer: ModelRefSchema,
    /** The recogniser's dictionary in the version folder, one character per line. */
    dictionary: FileSchema,
    /** CTC blank index. Default 0. */
    blank: z.number().int().min(0).default(0),
    /** A space as the last class. Default true. */
    space: z.boolean().default(true),
    /** The page's longer side is scaled down to this for detection. Default 960. */
    maxSide: z.number().int().min(32).max(4096).default(960),
    /** Largest page accepted, in pixels, read from its header. Default 40 MP. */
    maxPixels: z.number().int().min(1).max(1_000_000_000).default(40_000_000),
    /** DB post-processing of the detector's map; PP-OCRv4's defaults. */
    boxes: BoxesStepSchema.omit({ kind: true, from: true }).default(
      BoxesStepSchema.omit({ kind: true, from: true }).parse({}),
    ),
    /** A line is turned over when the classifier's "180" exceeds this. Default 0.9. */
    turnThreshold: z.number().min(0).max(1).default(0.9),
    /** Lines per recogniser call, grouped by aspect ratio. Default 6. */
    batchSize: z.number().int().min(1).max(256).default(6),
  })
  .strict();

/** The kinds of pipeline. */
export const PipelineSchema = z.discriminatedUnion('kind', [
  OcrPipelineSchema,
  EnsemblePipelineSchema,
]);

export { ModelRefSchema };
export type { ModelRef } from './model-ref.js';
export type OcrPipeline = z.infer<typeof OcrPipelineSchema>;
export type Pipeline = z.infer<typeof PipelineSchema>;
