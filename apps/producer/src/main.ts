/**
 * The producer process: `node dist/main.js` (or `pnpm producer`). Configured by environment
 * variables (docs/configuration.md), read here and nowhere else in the producer; run-producer.ts
 * does the rest. Exits 1 when the configuration is invalid or it cannot start, and 0 after a
 * graceful shutdown on SIGTERM or SIGINT (also during start-up). When Redis does not answer at
 * start it logs one line per attempt and tries again with capped exponential backoff.
 */
import { loadConfigOrExit } from '@conveyor/shared';
import { serveProducer } from './run-producer.js';

await serveProducer(loadConfigOrExit(process.env));
