// @ts-check
import js from '@eslint/js';
import { importX } from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '.tsbuild/**', 'coverage/**', 'eslint.config.js'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      // import-x parses the modules an import reaches to follow their imports (no-cycle): .ts
      // ones with the TypeScript parser, else it sees none and finds no cycle.
      'import-x/extensions': ['.ts', '.js', '.mjs', '.cjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [
        importX.createNodeResolver({
          conditionNames: ['@conveyor/source', 'types', 'import', 'default'],
          // Our imports name the .js a .ts file compiles to, as TypeScript's NodeNext wants.
          extensionAlias: { '.js': ['.ts', '.js'] },
        }),
      ],
    },
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // Cycles among our own modules; walking node_modules' graphs found none and took most of its time.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-relative-packages': 'error',
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@conveyor/*/src/*', '@conveyor/*/dist/*'],
              message: 'Import a package by its name; its index is its public surface.',
            },
          ],
        },
      ],
      // Configuration is read once, by loadConfig; everything else gets it passed down.
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Read configuration through loadConfig (packages/shared/src/config.ts).',
        },
      ],
    },
  },
  {
    files: ['packages/shared/**', 'packages/engine/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@conveyor/sdk', '@conveyor/sdk/*'],
              message: 'shared and engine do not depend on the SDK.',
            },
          ],
        },
      ],
    },
  },
  {
    // `@conveyor/sdk` installs without onnxruntime: only its `embedded` entry reaches the engine.
    files: ['packages/sdk/src/**'],
    ignores: ['packages/sdk/src/embedded/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@conveyor/*/src/*', '@conveyor/*/dist/*'],
              message: 'Import a package by its name; its index is its public surface.',
            },
            {
              group: ['@conveyor/engine', '@conveyor/engine/*', './embedded/*', '../embedded/*'],
              message: 'Only @conveyor/sdk/embedded (src/embedded/) may load the engine.',
            },
            {
              group: ['@conveyor/telemetry', '@opentelemetry/*', '!@opentelemetry/api'],
              message:
                'Only @opentelemetry/api here: an application importing the SDK must not load the OpenTelemetry SDK (@conveyor/telemetry is for the services).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/shared/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@conveyor/*'], message: 'shared imports nothing of ours.' },
            {
              group: ['@conveyor/telemetry', '@opentelemetry/*', '!@opentelemetry/api'],
              message:
                'Only @opentelemetry/api here: an application importing the SDK must not load the OpenTelemetry SDK (@conveyor/telemetry is for the services).',
            },
          ],
        },
      ],
    },
  },
  {
    // Entry points, tests and scripts read the environment (each app through loadConfig(process.env)).
    files: [
      'apps/*/src/main.ts',
      'scripts/**',
      'test/**',
      '**/test/**',
      '**/*.test.ts',
      'vitest.config.ts',
    ],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    // The inference thread's start from the sources (see inference-pool.ts): plain JavaScript that
    // no tsconfig includes, so it is linted without types.
    files: ['packages/engine/src/inference-thread-sources.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The Conveyor dashboard's page scripts run in the browser (checked by their own tsconfig).
    files: ['apps/producer/src/console/public/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ['**/test/**', '**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // Tests share the repository's test/support, and scripts reach into the apps' sources: neither
    // is published, so neither imports another package the way an installed package would.
    files: ['**/test/**', '**/*.test.ts', 'scripts/**'],
    rules: { 'import-x/no-relative-packages': 'off' },
  },
);
