import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import type * as PinoPretty from 'pino-pretty';

export type { Logger } from 'pino';

/** The parts of Conveyor that log; every record carries one. */
export type Component = 'worker' | 'producer' | 'sdk' | 'engine' | 'demo' | 'cli';

export interface LoggerOptions {
  level?: string;
  component: Component;
  /** Where records go; default stdout. Tests pass an in-memory stream. */
  destination?: DestinationStream;
  /**
   * LOG_FORMAT: `json` lines, `pretty` (pino-pretty) lines, or `auto` (the default): pretty when
   * the records go to stdout and stdout is a terminal, JSON otherwise.
   */
  format?: LogFormat;
  /** Whether stdout is a terminal, for `auto`; default `process.stdout.isTTY`. */
  isTTY?: boolean;
  /** Fields added to every record when it is written (pino's `mixin`), such as a trace id. */
  mixin?: () => Record<string, unknown>;
  /**
   * JSON lines to stdout written in the background, many per write call, instead of one write
   * call per record; pino flushes them when the process exits. For the producer, whose access
   * log writes a record per request: the write call cost more than the rest of its logging.
   */
  buffered?: boolean;
}

export type LogFormat = 'auto' | 'json' | 'pretty';

/**
 * Records as pino-pretty lines, written synchronously to `out` (stdout by default), so a record
 * logged just before the process exits is not lost.
 */
function prettyStream(out: DestinationStream): DestinationStream {
  // Loaded only when asked for: a JSON logger (a service in production, the SDK) never needs it.
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  const pretty = prettyFactory({
    translateTime: 'SYS:HH:MM:ss.l',
    messageFormat: '[{component}] {msg}',
    ignore: 'pid,hostname,component',
  });
  return { write: (line: string) => out.write(pretty(line)) };
}

/**
 * The one logger factory: credentials redacted, a `component` binding; JSON lines, or readable
 * lines on a terminal (see LoggerOptions.format).
 */
export function createLogger(options: LoggerOptions): Logger {
  const format = options.format ?? 'auto';
  const pretty =
    format === 'pretty' ||
    (format === 'auto' &&
      options.destination === undefined &&
      (options.isTTY ?? process.stdout.isTTY === true));
  const destination = pretty
    ? prettyStream(options.destination ?? pino.destination({ dest: 1, sync: true }))
    : (options.destination ?? (options.buffered ? pino.destination({ sync: false }) : undefined));
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: { component: options.component },
      ...(options.mixin && { mixin: options.mixin }),
      redact: {
        paths: ['req.headers.authorization', 'password', '*.password', 'redisUrl', '*.redisUrl'],
        censor: '***',
      },
    },
    destination,
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
