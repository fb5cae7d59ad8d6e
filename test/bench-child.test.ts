import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild } from '../scripts/bench/lib.js';

/** Whether a process of that id still runs. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the bench startChild', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-child-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('kills a child that never says it is ready', async () => {
    const entry = join(dir, 'silent.mjs');
    const pidFile = join(dir, 'silent.pid');
    await writeFile(
      entry,
      `import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
setInterval(() => {}, 1000);`,
    );
    await expect(startChild(entry, {}, 'ready', { readyTimeoutMs: 3000 })).rejects.toThrow(
      /not ready in 3 s/,
    );
    const pid = Number(await readFile(pidFile, 'utf8'));
    await expect.poll(() => alive(pid)).toBe(false);
  });

  it('parses the JSON lines printed after the ready line when asked, the last 200', async () => {
    const entry = join(dir, 'chatty.mjs');
    await writeFile(
      entry,
      `console.log(JSON.stringify({ msg: 'starting' }));
console.log(JSON.stringify({ msg: 'ready' }) + '\\n' + JSON.stringify({ msg: 'first', n: 0 }));
for (let n = 1; n <= 300; n++) console.log(JSON.stringify({ msg: 'line', n }));
console.log('not json');
console.log(JSON.stringify({ msg: 'last' }));
setInterval(() => {}, 1000);`,
    );
    const child = await startChild(entry, {}, '"ready"');
    try {
      await expect.poll(() => child.logs.at(-1)?.msg).toBe('last');
      const logs = child.logs;
      expect(logs).toHaveLength(199);
      expect(logs[0]).toEqual({ msg: 'line', n: 103 });
      expect(logs.at(-2)).toEqual({ msg: 'line', n: 300 });
    } finally {
      await child.stop();
    }
  });
});
