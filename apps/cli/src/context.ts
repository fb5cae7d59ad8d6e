import type { Io } from './io.js';

/** A long-running service the CLI starts in this process through its package's entry point. */
export type ServiceName = 'worker' | 'producer';

/**
 * Starts a service's entry point (`@conveyor/worker/main`, `@conveyor/producer/main`) after
 * setting the given variables in `process.env`, which those entry points read. main.ts owns it.
 */
export type Launcher = (
  service: ServiceName,
  env: Readonly<Record<string, string>>,
) => Promise<void>;

/** What every command gets. */
export interface CliContext {
  readonly io: Io;
  readonly launch: Launcher;
  /** The exit code the command sets (exit-codes.ts, or a child's); undefined while a service keeps running. */
  exitCode: number | undefined;
}
