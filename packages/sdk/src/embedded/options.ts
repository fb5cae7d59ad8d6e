import { z } from 'zod';
import type { Logger } from '@conveyor/shared';
import { EmbeddedClientOptionsSchema as SharedEmbeddedOptionsSchema } from '../options.js';

// Named here so that the schema's declared type can name the logger (pino is not a dependency).
const logger: z.ZodOptional<z.ZodCustom<Logger, Logger>> = SharedEmbeddedOptionsSchema.shape.logger;

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
  })
  .strict();

export type EmbeddedClientOptions = z.input<typeof EmbeddedClientOptionsSchema>;
export type ResolvedEmbeddedClientOptions = z.output<typeof EmbeddedClientOptionsSchema>;
