import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress, estimate, formatDuration } from '../src/batch/progress.js';

describe('batch progress', () => {
  it('formats durations in whole units, never 60 of the smaller one', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(59.4)).toBe('59s');
    expect(formatDuration(59.6)).toBe('1m00s');
    expect(formatDuration(119.6)).toBe('2m00s');
    expect(formatDuration(185)).toBe('3m05s');
    expect(formatDuration(3599.6)).toBe('1h00m');
    expect(formatDuration(7170)).toBe('2h00m');
    expect(formatDuration(7199)).toBe('2h00m');
    expect(formatDuration(7140)).toBe('1h59m');
    expect(formatDuration(Infinity)).toBe('?');
  });

  it('gives no ETA until this run has done enough rows over enough time', () => {
    expect(estimate({ thisRun: 5, elapsedMs: 60_000, remaining: 1000 })).toBe('?');
    expect(estimate({ thisRun: 10_000, elapsedMs: 200, remaining: 1000 })).toBe('?');
    expect(estimate({ thisRun: 1000, elapsedMs: 10_000, remaining: 500 })).toBe('5s');
    expect(estimate({ thisRun: 0, elapsedMs: 0, remaining: 0 })).toBe('0s');
  });

  it('bases the ETA on the rows of this run, not those an earlier run did', () => {
    // Resumed at 90 000 of 100 000 rows; 100 rows done in 4 s: 10 000 rows left at 25 rows/s.
    expect(estimate({ thisRun: 100, elapsedMs: 4000, remaining: 9900 })).toBe('6m36s');
  });

  it('writes plain lines off a terminal, the first without an ETA', () => {
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    const progress = createProgress({ stream, total: 100_000, quiet: false, intervalMs: 0 });
    progress.update({ processed: 90_003, failed: 0, thisRun: 3 });
    expect(text).toMatch(/^conveyor: batch: 90003\/100000 rows, 0 failed, \d+ rows\/s, ETA \?\n$/);
  });
});
