import type { Logger } from 'pino';
import { loadConfig, type Config } from './config.js';
import { isConveyorError } from './errors.js';

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

/**
 * loadConfig for a process entry point: on invalid configuration it writes every problem on one
 * line to stderr and exits 1, before any logger exists.
 */
export function loadConfigOrExit(env: Readonly<Record<string, string | undefined>>): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    process.stderr.write(`${isConveyorError(error) ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
