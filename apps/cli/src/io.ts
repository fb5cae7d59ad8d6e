import type { Readable, Writable } from 'node:stream';
import { toConveyorError, type ConveyorError } from '@conveyor/shared';
import { exitCodeOf, type ExitCode } from './exit-codes.js';

/**
 * What a command may touch of the process: its streams and environment. main.ts passes the real
 * ones; nothing else in the CLI reads `process.env` or writes to the console.
 */
export interface Io {
  readonly stdin: Readable;
  readonly stdout: Writable & { isTTY?: boolean; columns?: number };
  readonly stderr: Writable & { isTTY?: boolean; columns?: number };
  /** The environment, read once by main.ts. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The working directory relative paths are resolved from. */
  readonly cwd: string;
  /**
   * How node runs this CLI again: its flags and script (`process.execArgv`, `process.argv[1]`).
   * `conveyor dev` and `conveyor autoscale` start their members with it.
   */
  readonly self?: readonly string[] | undefined;
}

/** Writes one line to a stream. */
export function line(stream: Writable, text = ''): void {
  stream.write(`${text}\n`);
}

/**
 * Reports an error the way every command does: one line `conveyor: CODE: message` on stderr, or
 * with `json` one JSON object `{ error: { code, message, issues?, details? } }` on stderr. Never a
 * stack trace: an unexpected error shows as ERR_INTERNAL with its message.
 */
export function reportError(io: Io, error: unknown, json: boolean): ExitCode {
  const known: ConveyorError = toConveyorError(error);
  if (json) {
    const body: Record<string, unknown> = { code: known.code, message: known.message };
    if (known.issues.length > 0) body.issues = known.issues;
    if (Object.keys(known.details).length > 0) body.details = known.details;
    line(io.stderr, JSON.stringify({ error: body }));
  } else {
    line(io.stderr, `conveyor: ${known.code}: ${oneLine(known.message)}`);
  }
  return exitCodeOf(known);
}

/** A message squeezed onto one line. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
