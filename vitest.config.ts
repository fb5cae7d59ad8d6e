import { configDefaults, defineConfig } from 'vitest/config';

/** How every test config (this one, load and chaos) resolves imports. */
export const resolveSources = {
  // Tests run on the TypeScript sources, never on a stale dist/. Vitest resolves for the server
  // (SSR) side, whose conditions are separate from resolve.conditions.
  resolve: { conditions: ['@conveyor/source'] },
  ssr: {
    // Not 'module': a package's ESM build found through it is loaded by Node itself (vitest
    // externalizes node_modules), and some (OpenTelemetry's) have imports only a bundler resolves.
    resolve: { conditions: ['@conveyor/source', 'node', 'development|production'] },
  },
};

export default defineConfig({
  ...resolveSources,
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'apps/*/src/**/*.test.ts',
      'apps/*/test/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    // The load and fault tests have their own configs and scripts (`pnpm test:load`, `pnpm test:chaos`).
    exclude: [...configDefaults.exclude, 'test/load/**', 'test/chaos/**'],
    globalSetup: ['test/support/build-setup.ts', 'test/support/global-setup.ts'],
    setupFiles: ['test/support/fail-on-console.ts'],
    pool: 'forks',
    // The files of a fork share its modules instead of each loading its own, about a second a
    // file (the suite: 460 to 520 s against 655 s). No file may rely on a fresh module state, and
    // each closes what it opens: a connection a file leaves behind fails a later file of the
    // same fork with an unhandled error (see docs/testing.md).
    isolate: false,
    // No tsx in the test processes: vitest transforms the sources itself, and loading tsx too
    // cost each test file about half a second. Inference threads register it for themselves
    // (packages/engine/src/inference-thread-sources.mjs); a process a test starts from the
    // sources says `--import tsx` itself. The condition lets those reach the sources as well.
    execArgv: ['--conditions=@conveyor/source'],
    // Above the SDK's 30 s wait, so a stuck job surfaces as ERR_JOB_TIMEOUT with its state.
    testTimeout: 45_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
