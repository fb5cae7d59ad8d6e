import { z } from 'zod';
import type { Logger } from '@conveyor/shared';
import { EmbeddedClientOptionsSchema as SharedEmbeddedOptionsSchema } from '../options.js';

// Named here so that the schema's declared type can name the logger (pino is not a dependency).
const logger: z.ZodOptional<z.ZodCustom<Logger, Logger>> = SharedEmbeddedOptionsSchema.shape.logger;

/** Predictions the embedded client keeps for feedback by default: 10 000, 64 MiB, for a day. */
const PREDICTIONS_KEPT = Object.freeze({ count: 10_000, ageSeconds: 86_400, maxBytes: 64 << 20 });

/**
 * Options of `createEmbeddedClient`: where the models are, and how to run them in-process (the
 * options both clients share, plus the embedded client's own).
 */
export const EmbeddedClientOptionsSchema = z
  .object({
    ...SharedEmbeddedOptionsSchema.shape,
    logger,
    /**
     * Model versions whose onnxruntime run takes less than this, in ms (measured on the warm-up
     * sample when the version loads), run on the calling thread instead of an inference thread:
     * for a tiny model the hop to a thread costs more than the run, while the run blocks the event
     * loop for as long as it lasts. Default 0.2; 0 runs every version on its inference threads.
     */
    inlineBelowMs: z.number().min(0).max(1000).default(0.2),
    /**
     * Recent predictions kept in memory for `feedback` (their outputs, version and owner): at most
     * `count` of them and `maxBytes` of their outputs (the oldest go first), none older than
     * `ageSeconds`. Feedback on a prediction no longer kept is ERR_PREDICTION_NOT_FOUND. Default
     * 10 000 predictions, 64 MiB, 1 day (the longest accuracy window); `count: 0` keeps none.
     * Outputs are kept as returned, not copied: change one in place and feedback scores the change.
     */
    keepPredictions: z
      .object({
        /** Keep at most this many predictions. */
        count: z.number().int().min(0).max(10_000_000),
        /** Drop predictions older than this, in seconds. */
        ageSeconds: z.number().int().min(0),
        /**
         * Keep at most this many bytes of outputs (tensor data; a string counts its length); a
         * prediction whose outputs alone are larger is not kept. Default 64 MiB.
         */
        maxBytes: z.number().int().min(0).default(PREDICTIONS_KEPT.maxBytes),
      })
      .strict()
      .default(() => ({ ...PREDICTIONS_KEPT })),
  })
  .strict();

export type EmbeddedClientOptions = z.input<typeof EmbeddedClientOptionsSchema>;
export type ResolvedEmbeddedClientOptions = z.output<typeof EmbeddedClientOptionsSchema>;
