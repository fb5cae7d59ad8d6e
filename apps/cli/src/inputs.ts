import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { ConveyorError, type ModelSignature } from '@conveyor/shared';

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

/**
 * The `--input` argument: JSON text, `@file.json`, or `-` for stdin. An object is tensors by input
 * name or one row of named features; an array is the data of a model's only input (see
 * inputsForModel).
 */
export async function readInputArg(
  arg: string,
  cwd: string,
  stdin: Readable,
): Promise<{ value: Record<string, unknown> | unknown[]; where: string }> {
  let where = '--input';
  let text = arg;
  if (arg === '-') {
    where = 'the input on stdin';
    text = await readAll(stdin);
  } else if (arg.startsWith('@')) {
    const path = arg.slice(1);
    where = `input file ${path}`;
    text = await readTextFile(cwd, path, 'input file');
  }
  return { value: parseInputsValue(text, where), where };
}

/** Parses JSON text into an inputs object or an array (see inputsForModel), or throws ERR_VALIDATION. */
export function parseInputsValue(text: string, where: string): Record<string, unknown> | unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ConveyorError(
      'ERR_VALIDATION',
      `${where} is not valid JSON: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
  }
  if (Array.isArray(value)) return value as unknown[];
  if (typeof value !== 'object' || value === null) {
    throw new ConveyorError(
      'ERR_VALIDATION',
      `${where} must be a JSON object (tensors by input name, or named features) or, for a model with one input, an array of its data`,
    );
  }
  return value as Record<string, unknown>;
}

/**
 * The inputs object of a prediction: an object as it is, and a bare array as the data of the
 * model's only input. A model with several inputs needs them named.
 */
export function inputsForModel(
  value: Record<string, unknown> | unknown[],
  where: string,
  signature: Pick<ModelSignature, 'name' | 'version' | 'inputs'>,
): Record<string, unknown> {
  if (!Array.isArray(value)) return value;
  const [only, ...others] = signature.inputs;
  if (only === undefined || others.length > 0) {
    const names = signature.inputs.map((input) => `"${input.name}"`).join(', ');
    throw new ConveyorError(
      'ERR_VALIDATION',
      `${where} is an array, but ${signature.name}@${signature.version} takes ${signature.inputs.length} inputs (${names}): give an object of tensors by input name`,
    );
  }
  return { [only.name]: value };
}
