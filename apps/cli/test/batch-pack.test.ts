import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { spawnWorker, type WorkerProcess } from '../../../test/support/workers.js';
import { finished, jsonLines, runCli, startCli, tempDir } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const queue = ['--redis-url', redisUrl, '--prefix', prefix];
const ROWS = 60_000;
const HEADER = 'sepal_length,sepal_width,petal_length,petal_width';
const BAD: ReadonlyMap<number, string> = new Map([
  [9, 'abc,3.0,1.4,0.2'],
  [30_001, '5.1,3.5,1.4'],
]);

function writeIrisCsv(path: string, rows: number): void {
  const lines = [HEADER];
  for (let line = 2; line <= rows + 1; line += 1) {
    const f = (k: number) => (1 + ((line * (k + 3) * 7919) % 60) / 10).toFixed(1);
    lines.push(BAD.get(line) ?? `${f(0)},${f(1)},${f(2)},${f(3)}`);
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

/**
 * Every record by its line number across the result files, checking none repeats; with `torn`,
 * files a SIGKILL cut short, whose last line may be part of one (see jsonLines).
 */
function records(files: string[], torn = false): Map<number, Record<string, unknown>> {
  const seen = new Map<number, Record<string, unknown>>();
  for (const file of files) {
    if (!existsSync(file)) continue;
    for (const record of jsonLines(readFileSync(file, 'utf8'), torn)) {
      const line = record.line as number;
      expect(seen.has(line), `line ${line} written twice`).toBe(false);
      seen.set(line, record);
    }
  }
  return seen;
}

describe('conveyor batch through the queue with packed rows', () => {
  let worker: WorkerProcess;
  const dir = tempDir();
  const input = join(dir, 'iris.csv');

  beforeAll(async () => {
    writeIrisCsv(input, ROWS);
    worker = await spawnWorker(redisUrl, prefix);
  }, 60_000);

  afterAll(async () => {
    await worker?.stop();
    await dropPrefix(redisUrl, prefix);
  });

  it('writes every row exactly once across a SIGKILL and a resume', async () => {
    const out = join(dir, 'resumed.jsonl');
    const failed = join(dir, 'resumed.failed.jsonl');
    const child = startCli(['batch', 'iris', input, '--out', out, '--quiet', ...queue]);
    const exited = finished(child);
    while (!existsSync(out) || statSync(out).size < 50_000) {
      expect(child.exitCode).toBeNull();
      await sleep(10);
    }
    child.kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');
    const before = records([out, failed], true).size;
    expect(before).toBeLessThan(ROWS);

    const run = await runCli(['batch', 'iris', input, '--out', out, '--json', ...queue]);
    expect(run.code).toBe(3);
    const summary = JSON.parse(run.stdout) as {
      skipped: number;
      succeeded: number;
      failed: number;
    };
    expect(summary.skipped + summary.succeeded + summary.failed).toBe(ROWS);
    const all = records([out, failed]);
    expect([...all.keys()].sort((a, b) => a - b)).toEqual(
      Array.from({ length: ROWS }, (_, i) => i + 2),
    );
    expect([...BAD.keys()].map((line) => all.get(line)?.code)).toEqual([
      'ERR_VALIDATION',
      'ERR_VALIDATION',
    ]);
  }, 180_000);

  it('writes the same outputs as one job per row', async () => {
    const small = join(dir, 'small.csv');
    writeIrisCsv(small, 300);
    const [packed, alone] = ['packed', 'alone'].map((name) => join(dir, `${name}.jsonl`));
    const runs = await Promise.all([
      runCli(['batch', 'iris', small, '--out', packed!, '--quiet', ...queue]),
      runCli(['batch', 'iris', small, '--out', alone!, '--quiet', '--no-pack', ...queue]),
    ]);
    expect(runs.map((r) => r.code)).toEqual([3, 3]);
    const a = records([packed!]);
    const b = records([alone!]);
    expect(a.size).toBe(299);
    for (const [line, record] of a) expect(record.outputs).toEqual(b.get(line)?.outputs);
  }, 120_000);
});
