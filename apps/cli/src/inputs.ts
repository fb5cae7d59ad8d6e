import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { ConveyorError } from '@conveyor/shared';

/** Reads a file named on the command line, or throws ERR_FILE_UNREADABLE with the OS reason. */
export async function readTextFile(cwd: string, path: string, what: string): Promise<string> {
  try {
    return await readFile(resolve(cwd, path), 'utf8');
  } catch (cause) {
    throw fileError(path, what, cause);
  }
}

/** ERR_FILE_UNREADABLE for a path, with the operating system's reason. */
export function fileError(path: string, what: string, cause: unknown): ConveyorError {
  const reason = (cause as NodeJS.ErrnoException).code ?? String(cause);
  const text =
    reason === 'ENOENT' ? 'does not exist' : reason === 'EACCES' ? 'is not readable' : reason;
  return new ConveyorError('ERR_FILE_UNREADABLE', `${what} ${path} ${text}`, {
    cause,
    details: { path },
  });
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses JSON text into an object (not an array), or throws ERR_VALIDATION saying where. */
export function parseInputsJson(text: string, where: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ConveyorError(
      'ERR_VALIDATION',
      `${where} is not valid JSON: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConveyorError(
      'ERR_VALIDATION',
      `${where} must be a JSON object: tensors by input name, or named features`,
    );
  }
  return value as Record<string, unknown>;
}

/** The `--input` argument: JSON text, `@file.json`, or `-` for stdin. */
export async function readInputArg(
  arg: string,
  cwd: string,
  stdin: Readable,
): Promise<Record<string, unknown>> {
  if (arg === '-') return parseInputsJson(await readAll(stdin), 'the input on stdin');
  if (arg.startsWith('@')) {
    const path = arg.slice(1);
    return parseInputsJson(await readTextFile(cwd, path, 'input file'), `input file ${path}`);
  }
  return parseInputsJson(arg, '--input');
}
