import type { Config } from '@conveyor/shared';
import type { Io } from './io.js';

/** A long-running service the CLI starts in this process through its package's entry point. */
export type ServiceName = 'worker' | 'producer';

/**
 * Runs a service in this process (`serveWorker`, `serveProducer`) with the configuration the
 * command built from its flags and the environment, passed as an argument: nothing is written to
 * `process.env`. Settles once the service has started; it then runs until a signal stops it.
 * main.ts owns it.
 */
export type Launcher = (service: ServiceName, config: Config) => Promise<void>;

/** What every command gets. */
export interface CliContext {
  readonly io: Io;
  readonly launch: Launcher;
  /**
   * The exit code the command sets (exit-codes.ts, or a child's); undefined while a service keeps
   * running.
   */
  exitCode: number | undefined;
}
