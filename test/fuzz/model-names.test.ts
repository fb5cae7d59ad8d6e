import { cpSync, mkdirSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEngine } from '@conveyor/engine';
import { silentLogger, toTensors } from '@conveyor/shared';
import { MODELS, runCli, tempDir } from '../../apps/cli/test/support.js';

/**
 * Model names never reach outside the model repository: a repository beside a folder that holds
 * a real model, and names that try to climb out to it, by the CLI and by the engine.
 */

function layout() {
  const root = tempDir();
  const repository = join(root, 'repo');
  mkdirSync(repository);
  cpSync(join(MODELS, 'iris'), join(repository, 'iris'), { recursive: true });
  // A servable model outside the repository: what a traversal would reach.
  cpSync(join(MODELS, 'iris'), join(root, 'outside', 'iris'), { recursive: true });
  return { root, repository };
}

const CLIMBS = (root: string) => [
  '../outside/iris',
  '..%2foutside%2firis',
  'iris/../../outside/iris',
  join(root, 'outside', 'iris'),
  '\u2025/outside/iris', // two-dot leader
  '\uff0e\uff0e\uff0foutside\uff0firis', // full-width ../
];

describe('model names and the repository', () => {
  it('the CLI finds no model outside --repository, however the name climbs', async () => {
    const { root, repository } = layout();
    // An argument with a path separator is a path (docs/cli.md): read from the working directory
    // as typed, never joined to --repository. An absolute path is a file the user chose.
    for (const name of CLIMBS(root).filter((n) => !isAbsolute(n))) {
      const run = await runCli(['models', 'inspect', name, '--repository', repository, '--json']);
      expect(run.code, `${name}: ${run.stdout}${run.stderr}`).not.toBe(0);
      // The name may be echoed back; the model file behind it is never reached.
      expect(`${run.stdout}${run.stderr}`).not.toContain(join(root, 'outside', 'iris', '1'));
      expect(`${run.stdout}${run.stderr}`).toMatch(
        /ERR_(MODEL_NOT_FOUND|VALIDATION|USAGE|FILE_UNREADABLE)/,
      );
    }
    const good = await runCli(['models', 'inspect', 'iris', '--repository', repository, '--json']);
    expect(good.code).toBe(0);
  }, 120_000);

  it('the engine refuses such names and serves only what is inside', async () => {
    const { root, repository } = layout();
    for (const name of CLIMBS(root)) {
      let code = 'loaded';
      try {
        const engine = await createEngine({
          repository,
          models: [name],
          threads: 0,
          logger: silentLogger(),
        });
        code = engine.models.size === 0 ? 'nothing served' : 'served';
        await engine
          .predict({ model: name, inputs: toTensors({ features: [[1, 2, 3, 4]] }) })
          .catch((error: unknown) => {
            code = (error as { code?: string }).code ?? 'untyped';
          });
        await engine.close();
      } catch (error) {
        code = (error as { code?: string }).code ?? 'untyped';
      }
      expect(code, name).toMatch(/^(ERR_[A-Z_]+|nothing served)$/);
      expect(code).not.toBe('served');
    }
  }, 60_000);
});
