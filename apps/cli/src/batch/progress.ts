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

const seconds = (s: number) =>
  !Number.isFinite(s)
    ? '?'
    : s >= 3600
      ? `${Math.floor(s / 3600)}h${Math.round((s % 3600) / 60)}m`
      : s >= 60
        ? `${Math.floor(s / 60)}m${Math.round(s % 60)}s`
        : `${Math.round(s)}s`;

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
  if (options.quiet) return { update: () => undefined, stop: () => undefined };
  if (stream.isTTY) {
    const bar = new SingleBar({
      stream,
      format:
        'batch {bar} {percentage}% | {value}/{total} rows | {failed} failed | {rate} rows/s | ETA {eta_formatted}',
      hideCursor: true,
      etaBuffer: 50,
      fps: 5,
    });
    let first = true;
    return {
      update(c) {
        const payload = { failed: c.failed, rate: Math.round(rate(c)) };
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
          bar.start(Math.max(total, c.processed), c.processed, { failed: c.failed, rate: 0 });
        bar.update(c.processed, { failed: c.failed, rate: Math.round(rate(c)) });
        bar.stop();
      },
    };
  }
  const intervalMs = options.intervalMs ?? 2000;
  let last = 0;
  const write = (c: ProgressCounts) => {
    const perSecond = rate(c);
    const left = Math.max(total - c.processed, 0);
    stream.write(
      `conveyor: batch: ${c.processed}/${total} rows, ${c.failed} failed, ${Math.round(perSecond)} rows/s, ETA ${seconds(left / perSecond)}\n`,
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
