/**
 * The worker process: `node dist/main.js` (or `pnpm worker`). Configured by environment variables
 * (docs/configuration.md), read here and nowhere else in the worker; run-worker.ts does the rest.
 * When Redis does not answer at start it logs one line per attempt and tries again with capped
 * exponential backoff instead of exiting; exits 0 after a graceful shutdown on SIGTERM or SIGINT,
 * including one that arrives during start-up.
 */
import { loadConfigOrExit } from '@conveyor/shared';
import { serveWorker } from './run-worker.js';

await serveWorker(loadConfigOrExit(process.env));
