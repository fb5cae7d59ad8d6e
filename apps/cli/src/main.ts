#!/usr/bin/env node
/**
 * `conveyor`: the command line (docs/cli.md). The only CLI file that reads `process.env` (never
 * writing it: services get their configuration as an argument) and decides the process's exit
 * code.
 */
import { isConveyorError } from '@conveyor/shared';
import type { Launcher } from './context.js';
import { EXIT } from './exit-codes.js';
import { reportError, type Io } from './io.js';
import { createProgram, fromCommander } from './program.js';

const io: Io = {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: { ...process.env },
  cwd: process.cwd(),
  self: [...process.execArgv, process.argv[1] ?? ''],
};

const launch: Launcher = async (service, config) => {
  // Started by `conveyor dev` with an IPC channel: when the parent goes away (even SIGKILL), the
  // channel closes and this service stops as on SIGTERM, so no orphan is left running.
  if (process.channel) {
    process.channel.unref();
    process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  }
  if (service === 'worker') await (await import('@conveyor/worker/run')).serveWorker(config);
  else await (await import('@conveyor/producer/run')).serveProducer(config);
};

const ctx = { io, launch, exitCode: undefined as number | undefined };
const json = process.argv.includes('--json');
const program = createProgram(ctx);

/** Exits once stdout and stderr have flushed (a pipe may still hold the last lines). */
function exit(code: number): void {
  let pending = 2;
  const done = () => {
    pending -= 1;
    if (pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

try {
  await program.parseAsync(process.argv);
  // A service (worker, serve) keeps running and exits on its own signals.
  if (ctx.exitCode !== undefined) exit(ctx.exitCode);
} catch (error) {
  let code: number;
  try {
    const ending = fromCommander(error);
    code = isConveyorError(ending) ? reportError(io, ending, json) : ending.exitCode;
  } catch {
    code = reportError(io, error, json);
  }
  exit(code === EXIT.OK && ctx.exitCode !== undefined ? ctx.exitCode : code);
}
