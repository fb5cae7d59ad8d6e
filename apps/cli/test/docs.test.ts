import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../src/exit-codes.js';
import { createProgram } from '../src/program.js';

const doc = readFileSync(new URL('../../../docs/cli.md', import.meta.url), 'utf8');

const program = createProgram({
  io: {
    stdin: new PassThrough(),
    stdout: new PassThrough(),
    stderr: new PassThrough(),
    env: {},
    cwd: '.',
  },
  launch: () => Promise.resolve(),
  exitCode: undefined,
});

/** Every runnable command with its full name, e.g. `models validate`. */
function leaves(command: Command, path: string[] = []): { name: string; command: Command }[] {
  return command.commands.flatMap((sub) =>
    sub.commands.length > 0
      ? leaves(sub, [...path, sub.name()])
      : [{ name: [...path, sub.name()].join(' '), command: sub }],
  );
}

describe('docs/cli.md', () => {
  it('has a section for every command of `conveyor --help`', () => {
    const headings = [...doc.matchAll(/^## `conveyor ([a-z]+)/gm)].map((m) => m[1]);
    expect(
      program.commands.map((c) => c.name()).filter((name) => !headings.includes(name)),
    ).toEqual([]);
  });

  it('names every subcommand and every visible flag of each command', () => {
    const missing: string[] = [];
    for (const { name, command } of leaves(program)) {
      if (!doc.includes(`conveyor ${name}`)) missing.push(`conveyor ${name}`);
      for (const option of command.options) {
        if (option.hidden || option.long === '--json' || option.long === undefined) continue;
        if (!new RegExp(`[\\s\`,]${option.long}[\\s\`,]`).test(doc))
          missing.push(`${name} ${option.long}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('documents every exit code, and no other', () => {
    const rows = [...doc.matchAll(/^\| `(\d+)`\s+\|/gm)].map((m) => Number(m[1]));
    expect(rows.sort((a, b) => a - b)).toEqual(Object.values(EXIT).sort((a, b) => a - b));
  });
});
