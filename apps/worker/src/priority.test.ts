import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const priority = fileURLToPath(new URL('./priority.ts', import.meta.url));

/**
 * Runs lowerPriority in a fresh process (a niceness cannot be raised back without privileges) and
 * reports the niceness of the calling thread and of a thread started after it, with the log.
 */
function lowerInChild(nice: number): { self: number; later: number; log: string } {
  const script = `
    import { getPriority } from 'node:os';
    import { Worker } from 'node:worker_threads';
    const { lowerPriority } = await import(${JSON.stringify(priority)});
    const lines = [];
    const log = { info: (o, m) => lines.push(m), warn: (o, m) => lines.push(m) };
    lowerPriority(${nice}, log);
    const code = "import { parentPort } from 'node:worker_threads'; import { getPriority } from 'node:os'; parentPort.postMessage(getPriority());";
    const worker = new Worker(new URL('data:text/javascript,' + encodeURIComponent(code)));
    const later = await new Promise((resolve) => worker.once('message', resolve));
    await worker.terminate();
    process.stdout.write(JSON.stringify({ self: getPriority(), later, log: lines.join(',') }));
  `;
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    {
      encoding: 'utf8',
      timeout: 20_000,
    },
  );
  if (child.status !== 0) throw new Error(child.stderr);
  return JSON.parse(child.stdout) as { self: number; later: number; log: string };
}

describe('lowerPriority', () => {
  it('lowers the worker to WORKER_NICE, and threads it starts afterwards inherit it', () => {
    const base = lowerInChild(0);
    const nice = Math.min(19, base.self + 5);
    expect(lowerInChild(nice)).toEqual({
      self: nice,
      later: nice,
      log: nice > base.self ? 'worker priority lowered' : '',
    });
  });

  it('leaves the priority alone with WORKER_NICE=0', () => {
    const result = lowerInChild(0);
    expect(result.self).toBe(result.later);
    expect(result.log).toBe('');
  });
});
