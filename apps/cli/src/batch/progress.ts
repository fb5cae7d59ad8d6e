import { SingleBar } from 'cli-progress';
import type { Writable } from 'node:stream';

/** Counts a progress display shows. */
export interface ProgressCounts {
  /** Rows finished so far, this run and earlier ones (skipped). */
  processed: number;
  /** Rows that failed this run. */
  failed: number;
  /** Rows finished this run. */
  thisRun: number;
}

/** Shows a batch's progress on stderr. */
export interface Progress {
  update(counts: ProgressCounts): void;
  stop(counts: ProgressCounts): void;
}

/** An estimate waits for this many rows done in this run... */
const ETA_MIN_ROWS = 100;
/** ...and this much time, so that the first one is not a guess from a handful of rows. */
const ETA_MIN_MS = 3000;

/** A duration in whole units: `42s`, `3m05s`, `1h59m`; never `1h60m` or `2m60s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/**
 * The time left, from the rate of this run alone (rows skipped because an earlier run did them
 * took no time now, so they say nothing about the rate); `?` until this run has done
 * ETA_MIN_ROWS rows over ETA_MIN_MS.
 */
export function estimate(options: {
  /** Rows finished this run. */
  thisRun: number;
  /** Time since this run started, in ms. */
  elapsedMs: number;
  /** Rows still to do. */
  remaining: number;
}): string {
  const { thisRun, elapsedMs, remaining } = options;
  if (remaining <= 0) return '0s';
  if (thisRun < ETA_MIN_ROWS || elapsedMs < ETA_MIN_MS) return '?';
  return formatDuration(remaining / (thisRun / (elapsedMs / 1000)));
}

/**
 * A cli-progress bar when stderr is a terminal; otherwise a plain line every `intervalMs`, which
 * reads well in CI logs; nothing when quiet. `total` is an estimate from counting lines.
 */
export function createProgress(options: {
  stream: Writable & { isTTY?: boolean };
  total: number;
  quiet: boolean;
  intervalMs?: number;
}): Progress {
  const { stream, total } = options;
  const started = Date.now();
  const rate = (c: ProgressCounts) => c.thisRun / Math.max((Date.now() - started) / 1000, 0.001);
  const eta = (c: ProgressCounts) =>
    estimate({
      thisRun: c.thisRun,
      elapsedMs: Date.now() - started,
      remaining: Math.max(total - c.processed, 0),
    });
  if (options.quiet) return { update: () => undefined, stop: () => undefined };
  if (stream.isTTY) {
    const bar = new SingleBar({
      stream,
      format:
        // Our own ETA: cli-progress's counts the resumed rows as done in no time, and formats
        // 7199 s as 1h59.98m.
        'batch {bar} {percentage}% | {value}/{total} rows | {failed} failed | {rate} rows/s | ETA {left}',
      hideCursor: true,
      etaBuffer: 50,
      fps: 5,
    });
    let first = true;
    return {
      update(c) {
        const payload = { failed: c.failed, rate: Math.round(rate(c)), left: eta(c) };
        if (first) {
          bar.start(Math.max(total, c.processed), c.processed, payload);
          first = false;
        } else {
          if (c.processed > bar.getTotal()) bar.setTotal(c.processed);
          bar.update(c.processed, payload);
        }
      },
      stop(c) {
        if (first)
          bar.start(Math.max(total, c.processed), c.processed, {
            failed: c.failed,
            rate: 0,
            left: '?',
          });
        bar.update(c.processed, { failed: c.failed, rate: Math.round(rate(c)), left: eta(c) });
        bar.stop();
      },
    };
  }
  const intervalMs = options.intervalMs ?? 2000;
  let last = 0;
  const write = (c: ProgressCounts) => {
    stream.write(
      `conveyor: batch: ${c.processed}/${total} rows, ${c.failed} failed, ${Math.round(rate(c))} rows/s, ETA ${eta(c)}\n`,
    );
  };
  return {
    update(c) {
      const now = Date.now();
      if (now - last < intervalMs) return;
      last = now;
      write(c);
    },
    stop: write,
  };
}
