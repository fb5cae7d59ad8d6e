import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/** The parts of Conveyor that log; every record carries one. */
export type Component = 'worker' | 'producer' | 'sdk' | 'engine' | 'demo' | 'cli';

export interface LoggerOptions {
  level?: string;
  component: Component;
  /** Where records go; default stdout. Tests pass an in-memory stream. */
  destination?: DestinationStream;
}

/** The one logger factory: JSON lines, credentials redacted, a `component` binding. */
export function createLogger(options: LoggerOptions): Logger {
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: { component: options.component },
      redact: {
        paths: ['req.headers.authorization', 'password', '*.password', 'redisUrl', '*.redisUrl'],
        censor: '***',
      },
    },
    options.destination,
  );
  return logger;
}

/** A logger that writes nothing: the SDK's default. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

const ERROR_LOG_INTERVAL_MS = 30_000;

/** Logs a repeating connection error once, then at most every 30 s, instead of on every retry. */
export function throttledErrorLog(log: Logger, message: string): (err: Error) => void {
  let last = 0;
  let suppressed = 0;
  return (err) => {
    const now = Date.now();
    if (now - last < ERROR_LOG_INTERVAL_MS) {
      suppressed += 1;
      return;
    }
    log.error({ err, suppressed }, message);
    last = now;
    suppressed = 0;
  };
}
