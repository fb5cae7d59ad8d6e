import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { finished, jsonLines, runCli, startCli, tempDir } from './support.js';

const ROWS = 100_000;
const HEADER = 'sepal_length,sepal_width,petal_length,petal_width';

/** Line numbers (header is line 1) of the rows made bad on purpose, and why each fails. */
const BAD: ReadonlyMap<number, string> = new Map([
  [7, 'abc,3.0,1.4,0.2'], // not a number
  [5_003, '5.1,3.5,1.4'], // a value short
  [50_001, ',3.0,1.4,0.2'], // empty value
  [99_999, '5.1,3.5,1.4,0.2,9.9'], // a value too many
]);

/** A deterministic iris CSV: ROWS rows after the header, a few of them bad. */
function writeIrisCsv(path: string): void {
  const lines = [HEADER];
  for (let line = 2; line <= ROWS + 1; line += 1) {
    const bad = BAD.get(line);
    if (bad !== undefined) lines.push(bad);
    else {
      const f = (k: number) => (1 + ((line * (k + 3) * 7919) % 60) / 10).toFixed(1);
      lines.push(`${f(0)},${f(1)},${f(2)},${f(3)}`);
    }
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

/**
 * Every record's line number across the result files, checking none repeats; with `torn`, files a
 * SIGKILL cut short, whose last line may be part of one (see jsonLines).
 */
function lineNumbers(files: string[], torn = false): Set<number> {
  const seen = new Set<number>();
  for (const file of files) {
    for (const record of jsonLines(readFileSync(file, 'utf8'), torn)) {
      const line = record.line as number;
      expect(seen.has(line), `line ${line} written twice`).toBe(false);
      seen.add(line);
    }
  }
  return seen;
}

const allDataLines = () => new Set(Array.from({ length: ROWS }, (_, i) => i + 2));

describe('conveyor batch --embedded over 100,000 CSV rows', () => {
  const dir = tempDir();
  const input = join(dir, 'iris.csv');
  beforeAll(() => writeIrisCsv(input));

  it('predicts every row once, sends bad rows to --failed with their codes, exits 3, and keeps memory flat', async () => {
    const out = join(dir, 'results.jsonl');
    const failed = join(dir, 'bad.jsonl');
    const samples = join(dir, 'memory.jsonl');
    const run = await runCli(
      [
        'batch',
        'iris',
        input,
        '--out',
        out,
        '--failed',
        failed,
        '--embedded',
        '--json',
        '--memory-samples',
        samples,
      ],
      { nodeArgs: ['--expose-gc'] },
    );
    expect(run.stderr).not.toMatch(/ERR_/);
    expect(run.code).toBe(3);
    expect(JSON.parse(run.stdout)).toMatchObject({
      succeeded: ROWS - BAD.size,
      failed: BAD.size,
      skipped: 0,
      failedRows: BAD.size,
    });

    expect(lineNumbers([out, failed])).toEqual(allDataLines());
    const failures = jsonLines(readFileSync(failed, 'utf8'));
    expect(failures.map((f) => f.line).sort((a, b) => Number(a) - Number(b))).toEqual([
      ...BAD.keys(),
    ]);
    for (const f of failures) expect(f.code).toBe('ERR_VALIDATION');

    const first = JSON.parse(readFileSync(out, 'utf8').slice(0, 2000).split('\n')[0]!) as {
      outputs: { probabilities: number[][] };
    };
    const [row] = first.outputs.probabilities;
    expect(row).toHaveLength(3);
    expect(row!.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);

    // Memory by row count, not time: the heap after 50,000+ rows is no larger than after the
    // first 20,000 rows plus a fixed margin (a leak of even 200 bytes a row would pass it).
    const heap = jsonLines(readFileSync(samples, 'utf8')) as { rows: number; heapUsed: number }[];
    // One sample as the count passes each multiple of 10,000 (rows are counted a block at a time).
    const tens = heap.map((s) => Math.floor(s.rows / 10_000));
    expect(tens).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    const early = Math.max(...heap.filter((s) => s.rows < 30_000).map((s) => s.heapUsed));
    const late = Math.max(...heap.filter((s) => s.rows >= 50_000).map((s) => s.heapUsed));
    expect(late).toBeLessThan(early + 8 * 1024 * 1024);
  }, 180_000);

  it('resumes after SIGKILL: a re-run skips finished rows, redoes a cut-off last line, and writes every row exactly once', async () => {
    const out = join(dir, 'resumed.jsonl');
    const failed = join(dir, 'resumed.failed.jsonl');
    const child = startCli(['batch', 'iris', input, '--out', out, '--embedded', '--quiet']);
    const exited = finished(child);
    // Kill once a good part of the output is written, but well before the end.
    while (!existsSync(out) || statSync(out).size < 400_000) {
      expect(child.exitCode).toBeNull();
      await sleep(20);
    }
    child.kill('SIGKILL');
    const killed = await exited;
    expect(killed.signal).toBe('SIGKILL');
    const before = lineNumbers([out, failed], true).size;
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(ROWS);

    // What a kill in the middle of a write leaves: a record without its newline.
    appendFileSync(out, '{"line": 100001, "outputs": {"probabil');

    const run = await runCli(['batch', 'iris', input, '--out', out, '--embedded', '--json']);
    expect(run.code).toBe(3);
    const summary = JSON.parse(run.stdout) as {
      skipped: number;
      succeeded: number;
      failed: number;
    };
    expect(summary.skipped).toBeGreaterThanOrEqual(before - 1);
    expect(summary.skipped + summary.succeeded + summary.failed).toBe(ROWS);
    expect(lineNumbers([out, failed])).toEqual(allDataLines());

    // Nothing left to do: the third run skips every row.
    const again = await runCli(['batch', 'iris', input, '--out', out, '--embedded', '--json']);
    expect(again.code).toBe(3);
    expect(JSON.parse(again.stdout)).toMatchObject({ skipped: ROWS, succeeded: 0, failed: 0 });
  }, 180_000);
});

describe('conveyor batch --embedded over JSON lines', () => {
  it('takes tensors, named features and bare arrays per line, reports each line number, and exits 0 when every row succeeds', async () => {
    const dir = tempDir();
    const input = join(dir, 'rows.jsonl');
    writeFileSync(
      input,
      [
        '{"features": [[5.1, 3.5, 1.4, 0.2]]}',
        '',
        '{"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}',
        '{"features": [[6.0, 2.7, 4.5, 1.5], [7.2, 3.2, 6.0, 1.8]]}',
        '[[5.0, 3.4, 1.5, 0.2]]',
      ].join('\n'),
    );
    const out = join(dir, 'out.jsonl');
    const run = await runCli(['batch', 'iris', input, '--out', out, '--embedded']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('4 succeeded, 0 failed');
    const records = jsonLines(readFileSync(out, 'utf8')) as {
      line: number;
      outputs: { probabilities: number[][] };
    }[];
    const byLine = new Map(records.map((r) => [r.line, r.outputs.probabilities]));
    expect([...byLine.keys()].sort()).toEqual([1, 3, 4, 5]);
    expect(byLine.get(1)?.[0]?.[0]).toBeGreaterThan(0.9);
    expect(byLine.get(3)?.[0]?.[2]).toBeGreaterThan(0.9);
    expect(byLine.get(4)).toHaveLength(2);
    expect(byLine.get(5)?.[0]?.[0]).toBeGreaterThan(0.9);
  });

  it('fails bad lines alone with their codes and refuses an --out file that is not a batch record file', async () => {
    const dir = tempDir();
    const input = join(dir, 'rows.jsonl');
    writeFileSync(
      input,
      [
        '{"features": [[5.1, 3.5, 1.4, 0.2]]}',
        '{oops',
        '{"features": [[5.1, 3.5, 1.4]]}',
        '{"petal": 1}',
        '"features"',
      ].join('\n'),
    );
    const out = join(dir, 'out.jsonl');
    const run = await runCli(['batch', 'iris', input, '--out', out, '--embedded']);
    expect(run.code).toBe(3);
    const failed = jsonLines(readFileSync(join(dir, 'out.failed.jsonl'), 'utf8'));
    expect(failed.map((f) => [f.line, f.code])).toEqual(
      expect.arrayContaining([
        [2, 'ERR_VALIDATION'],
        [3, 'ERR_INPUT_SHAPE'],
        [4, 'ERR_INPUT_UNEXPECTED'],
        [5, 'ERR_VALIDATION'],
      ]),
    );
    expect(failed).toHaveLength(4);

    const foreign = join(dir, 'notes.jsonl');
    writeFileSync(foreign, 'my notes\n');
    const refused = await runCli(['batch', 'iris', input, '--out', foreign, '--embedded']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /^conveyor: ERR_VALIDATION: output file .* line 1 is not a batch record/,
    );
    expect(readFileSync(foreign, 'utf8')).toBe('my notes\n');
  });

  it('refuses a missing input file and an unknown format with exit 2', async () => {
    const dir = tempDir();
    const [missing, format] = await Promise.all([
      runCli(['batch', 'iris', join(dir, 'none.csv'), '--out', join(dir, 'o.jsonl'), '--embedded']),
      runCli(['batch', 'iris', join(dir, 'rows.txt'), '--out', join(dir, 'o.jsonl'), '--embedded']),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /^conveyor: ERR_FILE_UNREADABLE: input file .* does not exist\n$/,
    );
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(/^conveyor: ERR_USAGE: .*--format/);
  });
});
