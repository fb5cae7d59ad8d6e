import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { spawnService } from '../../scripts/lib/worker-process.js';

/** What a running service has loaded: its CommonJS modules' files and its mapped libraries. */
export interface Loaded {
  modules: string[];
  libraries: string[];
}

/** Names the process's CommonJS modules on stderr when it gets SIGUSR2. */
const PRELOAD = `process.on('SIGUSR2', () => {
  process.stderr.write('MODULES ' + JSON.stringify(Object.keys(require.cache)) + '\\n');
});`;

/**
 * Starts `app` from its sources with `env` (on `redisUrl` under `prefix`), reads what it has
 * loaded once it logs that it is ready, and stops it: a preloaded script names its modules, and
 * /proc its native libraries.
 */
export async function loadedBy(
  app: 'producer' | 'worker',
  redisUrl: string,
  prefix: string,
  env: Record<string, string>,
): Promise<Loaded> {
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-loaded-'));
  const preload = join(dir, 'name-modules.cjs');
  await writeFile(preload, PRELOAD);
  try {
    const service = await spawnService(
      app,
      redisUrl,
      prefix,
      { LOG_LEVEL: 'info', ...env },
      'sources',
      ['--require', preload],
    );
    try {
      const answer = (async () => {
        for await (const line of createInterface({ input: service.child.stderr! })) {
          if (line.startsWith('MODULES ')) return JSON.parse(line.slice(8)) as string[];
        }
        throw new Error(`the ${app} ended without naming its modules`);
      })();
      service.child.kill('SIGUSR2');
      const modules = await answer;
      const maps = await readFile(`/proc/${service.child.pid}/maps`, 'utf8');
      const libraries = [...new Set(maps.split('\n').map((l) => l.split(/\s+/)[5] ?? ''))];
      return { modules, libraries };
    } finally {
      await service.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The paths among `paths` that `pattern` matches. */
export const named = (paths: readonly string[], pattern: RegExp): string[] =>
  paths.filter((p) => pattern.test(p));
