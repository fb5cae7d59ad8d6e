import type { Logger } from 'pino';

/**
 * Runs `close` once on the first SIGTERM or SIGINT, then exits 0 (or 1 when closing fails).
 * Used by every Conveyor process so they all stop the same way.
 */
export function exitOnSignals(log: Logger, close: () => Promise<void>): void {
  const stop = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'signal received');
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
