import { createRequire } from 'node:module';
import { z } from 'zod';

/** The producer's version, from its package.json (src/ and dist/ are both one level under it). */
export const PRODUCER_VERSION: string = z
  .object({ version: z.string() })
  .parse(createRequire(import.meta.url)('../package.json')).version;
