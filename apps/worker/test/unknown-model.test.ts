import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { uniquePrefix } from '../../../test/support/prefix.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** `pnpm worker` as a process: its exit code and its log lines (JSON on a pipe). */
async function runWorkerProcess(env: Record<string, string>) {
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--conditions=@conveyor/source', '--import', 'tsx', MAIN],
      { cwd: ROOT, env: { ...process.env, LOG_FORMAT: 'json', ...env }, timeout: 60_000 },
    );
    return { code: 0, stdout };
  } catch (err) {
    const { code, stdout } = err as { code: number; stdout: string };
    return { code, stdout };
  }
}

describe('a worker told to serve a model its repository does not have', () => {
  it('exits 1 before it says it is ready, naming the model and what the repository has', async () => {
    const run = await runWorkerProcess({
      MODELS: 'iris,nope',
      LOG_LEVEL: 'info',
      REDIS_URL: inject('redisUrl'),
      REDIS_KEY_PREFIX: uniquePrefix(),
      WORKER_HTTP_PORT: '0',
    });
    expect(run.code).toBe(1);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; code?: string; err?: { message: string } });
    expect(lines.map((l) => l.msg)).not.toContain('worker ready');
    const fatal = lines.find((l) => l.msg === 'worker failed to start');
    expect(fatal?.code).toBe('ERR_MODEL_NOT_FOUND');
    expect(fatal?.err?.message).toMatch(/does not have: "nope"; it has: .*iris/);
  });
});
