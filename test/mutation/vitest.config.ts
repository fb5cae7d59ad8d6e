import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';
import base from '../../vitest.config.js';

// `pnpm test:mutation` (Stryker, stryker.config.json) runs only the tests of the packages it
// mutates. Stryker copies the tree into a sandbox but links the root node_modules, whose
// `@conveyor/*` links point back at the original sources; the aliases make the tests import the
// sandbox's (mutated) copies instead.
const fromRoot = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));

export default defineConfig({
  ...base,
  root: fromRoot(''),
  resolve: {
    ...base.resolve,
    alias: {
      '@conveyor/shared': fromRoot('packages/shared/src/index.ts'),
      '@conveyor/engine': fromRoot('packages/engine/src/index.ts'),
    },
  },
  test: {
    ...base.test,
    include: ['packages/shared/**/*.test.ts', 'packages/engine/test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, '**/dist/**'],
    reporters: ['default'],
  },
});
