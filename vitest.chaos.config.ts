import { defineConfig } from 'vitest/config';
import { resolveSources } from './vitest.config.js';

/**
 * The fault tests (`pnpm test:chaos`): workers killed with SIGKILL, Redis shut down and killed
 * under both AOF fsync policies, producer restarts, models that fail, Redis absent at start. Each
 * file starts its own Redis on its own port and folder, so they never touch the shared one; one
 * file at a time, because they kill and restart processes and time their recoveries.
 */
export default defineConfig({
  ...resolveSources,
  test: {
    include: ['test/chaos/**/*.test.ts'],
    // Workers and producers start from their build (test/chaos/support.ts, test/support/workers.ts).
    globalSetup: ['test/support/build-setup.ts'],
    setupFiles: ['test/support/fail-on-console.ts'],
    pool: 'forks',
    // No tsx: vitest transforms the sources itself (see vitest.config.ts).
    execArgv: ['--conditions=@conveyor/source'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: [
      'default',
      './test/support/summary-reporter.ts',
      './test/chaos/summary-reporter.ts',
    ],
  },
});
