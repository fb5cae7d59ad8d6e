import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, type CliRun } from './support.js';

/**
 * Packages a CLI start should not load unless its command uses them (see deferred-imports.ts);
 * ioredis loads with the first Redis connection (see redis-client.ts in @conveyor/shared).
 */
const HEAVY = [
  '@conveyor/sdk',
  '@conveyor/engine',
  'bullmq',
  'ioredis',
  'onnxruntime-node',
  'apache-arrow',
];

/**
 * Runs `conveyor <args>` with a module hook that writes every specifier the run imports (each
 * `import`, static or dynamic) or requires to a file, and returns the run and those specifiers.
 */
function withImportLog(dir: string) {
  const hooks = join(dir, 'hooks.mjs');
  const register = join(dir, 'register.mjs');
  writeFileSync(
    hooks,
    [
      "import { appendFileSync } from 'node:fs';",
      'export async function resolve(specifier, context, next) {',
      "  appendFileSync(process.env.IMPORT_LOG, specifier + '\\n');",
      '  return next(specifier, context);',
      '}',
    ].join('\n'),
  );
  writeFileSync(
    register,
    [
      "import { appendFileSync } from 'node:fs';",
      "import Module, { register } from 'node:module';",
      `register(${JSON.stringify(pathToFileURL(hooks).href)});`,
      // A require (ioredis is CommonJS, and required lazily) goes past the resolve hook.
      'const load = Module._load;',
      'Module._load = function (request, ...rest) {',
      "  appendFileSync(process.env.IMPORT_LOG, request + '\\n');",
      '  return load.call(this, request, ...rest);',
      '};',
    ].join('\n'),
  );
  let runs = 0;
  return async (args: string[]): Promise<{ run: CliRun; imported: Set<string> }> => {
    const log = join(dir, `imports-${runs++}.txt`);
    writeFileSync(log, '');
    const run = await runCli(args, {
      nodeArgs: ['--import', pathToFileURL(register).href],
      env: { IMPORT_LOG: log },
    });
    return { run, imported: new Set(readFileSync(log, 'utf8').split('\n').filter(Boolean)) };
  };
}

describe('what a conveyor start loads', () => {
  let logged: ReturnType<typeof withImportLog>;
  beforeAll(() => {
    logged = withImportLog(tempDir());
  });

  it('answers --help and a usage error without loading the SDK, the engine or Arrow', async () => {
    for (const args of [['--help'], ['models', 'list', '--frobnicate']]) {
      const { run, imported } = await logged(args);
      expect(run.code, run.stderr).toBe(args[0] === '--help' ? 0 : 2);
      expect(imported.has('commander')).toBe(true);
      expect(HEAVY.filter((p) => imported.has(p))).toEqual([]);
    }
  });

  it('loads what a command uses when it runs: an embedded prediction, the engine and no BullMQ', async () => {
    const { run, imported } = await logged([
      'predict',
      'iris',
      '--input',
      '{"features": [[5.1, 3.5, 1.4, 0.2]]}',
      '--embedded',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ model: 'iris' });
    // onnxruntime-node loads where the engine runs models (an inference thread), out of sight here.
    expect(imported.has('@conveyor/sdk/embedded')).toBe(true);
    expect(imported.has('@conveyor/engine')).toBe(true);
    expect(imported.has('bullmq')).toBe(false);
    expect(imported.has('ioredis')).toBe(false);
  });

  it('loads ioredis for a command that talks to Redis', async () => {
    // No Redis answers on port 1: the command fails to connect, after loading ioredis to try.
    const { run, imported } = await logged(['queues', '--redis-url', 'redis://127.0.0.1:1']);
    expect(run.code, run.stderr).toBe(4);
    expect(imported.has('ioredis')).toBe(true);
  });
});
