import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEV_STATE_FILE, readDevState, removeDevState, writeDevState } from './dev-state.js';

const folder = () => mkdtempSync(join(tmpdir(), 'conveyor-dev-state-'));
const state = (pid: number) => ({
  redisUrl: 'redis://127.0.0.1:40123',
  prefix: 'conveyor',
  producerUrl: 'http://127.0.0.1:8080',
  pid,
  startedAt: new Date(0).toISOString(),
});

/** A pid that was alive and has exited. */
const deadPid = (): number => {
  const run = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(run.stdout);
};

describe('dev state', () => {
  it('reads back what a live process wrote, and is removed by that process only', () => {
    const dir = folder();
    const path = writeDevState(dir, state(process.pid));
    expect(path).toBe(join(dir, DEV_STATE_FILE));
    expect(readDevState(dir)).toEqual(state(process.pid));
    removeDevState(dir, process.pid + 1_000_000);
    expect(existsSync(path)).toBe(true);
    removeDevState(dir, process.pid);
    expect(existsSync(path)).toBe(false);
    expect(readDevState(dir)).toBeUndefined();
  });

  it('ignores a file whose process has exited', () => {
    const dir = folder();
    writeDevState(dir, state(deadPid()));
    expect(readDevState(dir)).toBeUndefined();
  });

  it('ignores a garbled or foreign file, and a folder without one', () => {
    const dir = folder();
    expect(readDevState(dir)).toBeUndefined();
    mkdirSync(join(dir, '.conveyor'));
    for (const text of ['{"redisUrl": "redis://127.0.0.1:1"', '[]', '{"pid": "x"}', '']) {
      writeFileSync(join(dir, DEV_STATE_FILE), text);
      expect(readDevState(dir)).toBeUndefined();
    }
    writeFileSync(
      join(dir, DEV_STATE_FILE),
      JSON.stringify({ ...state(process.pid), redisUrl: 'http://x' }),
    );
    expect(readDevState(dir)).toBeUndefined();
    removeDevState(dir, process.pid);
    expect(readFileSync(join(dir, DEV_STATE_FILE), 'utf8')).toContain('http://x');
  });
});
