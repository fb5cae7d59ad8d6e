import {
  createStatusHistory,
  type ConveyorStatus,
  type Logger,
  type StatusHistory,
  type StatusHistoryOptions,
} from '@conveyor/shared';

export interface StatusSamplerOptions extends StatusHistoryOptions {
  /** Reads the status once (the producer passes `client.status()`). */
  read: () => Promise<ConveyorStatus>;
  logger: Logger;
}

/** Reads the status every `sampleMs` into a bounded history, from its first use until closed. */
export interface StatusSampler {
  /** The history so far; the first call starts sampling and waits for the first sample. */
  history(): Promise<StatusHistory>;
  /** Stops sampling and waits for a read in flight. */
  close(): Promise<void>;
}

/**
 * The dashboard's sampler. It starts on first use, so a producer nobody watches never reads the
 * status; a failed read is logged (throttled to one warning until a read succeeds) and skipped,
 * leaving a longer gap between two samples, which the rates account for.
 */
export function createStatusSampler(options: StatusSamplerOptions): StatusSampler {
  const buffer = createStatusHistory(options);
  let first: Promise<void> | undefined;
  let inFlight: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let failing = false;

  const sample = async () => {
    try {
      buffer.add(await options.read());
      failing = false;
    } catch (err) {
      if (!failing) options.logger.warn({ err }, 'status not sampled for the dashboard');
      failing = true;
    }
  };

  const schedule = () => {
    if (closed) return;
    timer = setTimeout(() => {
      inFlight = sample().finally(() => {
        inFlight = undefined;
        schedule();
      });
    }, options.sampleMs);
    // Sampling alone never keeps the process alive; close() stops it on shutdown anyway.
    timer.unref();
  };

  return {
    async history() {
      first ??= sample().finally(schedule);
      await first;
      return buffer.view();
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      await inFlight;
    },
  };
}
