import { defineConfig } from 'vitest/config';
import { resolveSources } from './vitest.config.js';

/**
 * The load tests (`pnpm test:load`): a soak with memory sampled and a burst far above capacity.
 * Kept out of `pnpm test` because they run tens of thousands of jobs; one file at a time, so each
 * owns the machine's two cores and its memory samples see only its own traffic.
 */
export default defineConfig({
  ...resolveSources,
  test: {
    include: ['test/load/**/*.test.ts'],
    globalSetup: ['test/support/build-setup.ts', 'test/support/global-setup.ts'],
    setupFiles: ['test/support/fail-on-console.ts'],
    pool: 'forks',
    // No tsx: vitest transforms the sources itself (see vitest.config.ts).
    execArgv: ['--expose-gc', '--conditions=@conveyor/source'],
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 120_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
