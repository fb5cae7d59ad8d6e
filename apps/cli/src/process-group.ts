import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';

/** A child of the group: its name (the prefix of its output lines) and its process. */
export interface Member {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (128 + signal number when killed by a signal). */
  readonly exited: Promise<number>;
}

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGKILL: 9,
  SIGTERM: 15,
};

/**
 * Starts `node <args>` (the CLI's `self` and a command) as a member of the group. It runs in its
 * own process group, so a terminal's Ctrl-C reaches only the parent, which stops the members in
 * order; and it gets an IPC channel, whose disconnection tells it the parent is gone (see main.ts).
 */
export function startMember(options: {
  name: string;
  args: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  out: Writable;
}): Member {
  const child = spawn(process.execPath, options.args, {
    env: { ...options.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const prefix = `[${options.name}] `;
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue;
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (text) =>
      options.out.write(`${prefix}${text}\n`),
    );
  }
  const exited = new Promise<number>((resolve) =>
    child.once('exit', (code, signal) =>
      resolve(code ?? 128 + (signal === null ? 0 : (SIGNAL_NUMBERS[signal] ?? 0))),
    ),
  );
  return { name: options.name, child, exited };
}

/** Whether the member's process is still running. */
export function running(member: Member): boolean {
  return member.child.exitCode === null && member.child.signalCode === null;
}

/** Sends a signal to a running member; ignores one that is already gone. */
export function signal(member: Member, name: NodeJS.Signals): void {
  if (!running(member)) return;
  try {
    member.child.kill(name);
  } catch {
    // It exited between the check and the kill.
  }
}
