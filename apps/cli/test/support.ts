import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODELS, ROOT, appArgs } from '../../../scripts/lib/worker-process.js';

export { MODELS, ROOT };

/**
 * The CLI as its package publishes it (the `conveyor` bin): the test run's global setup has built
 * it from the current sources (test/support/build-setup.ts). Node on the build starts in about
 * half the time node through tsx takes, and the CLI tests start it about a hundred times.
 */
const CLI_ARGS = appArgs('cli', 'build');
/** The CLI's script, for a shell's command line (`node ${CLI}`). */
export const CLI = CLI_ARGS.join(' ');

/** What a finished `conveyor` run left: its exit code and output. */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string>;
  /** Text for stdin. */
  input?: string;
  /** Extra node flags, e.g. --expose-gc. */
  nodeArgs?: string[];
  cwd?: string;
}

/** Starts `conveyor <args>` as the installed `conveyor` bin does: node on the CLI's build. */
export function startCli(args: readonly string[], options: CliOptions = {}): ChildProcess {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...CLI_ARGS, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { PATH: process.env.PATH, MODEL_REPOSITORY: MODELS, LOG_LEVEL: 'warn', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin?.end(options.input ?? '');
  return child;
}

/** Collects a started run's output until it exits. */
export function finished(child: ChildProcess): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
}

/** Runs `conveyor <args>` to the end. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  return finished(startCli(args, options));
}

/** A fresh temporary folder. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'conveyor-cli-'));
}

/** Whether a process id is still alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The JSON lines of a text, parsed. With `torn`, the text is a file a SIGKILL may have cut in the
 * middle of a write: what follows its last newline is left out (a resume truncates it).
 */
export function jsonLines(text: string, torn = false): Record<string, unknown>[] {
  return (torn ? text.slice(0, text.lastIndexOf('\n') + 1) : text)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
