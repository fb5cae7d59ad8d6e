/**
 * `--file [input=]path` of `conveyor predict`: files read whole into bytes inputs (an image, a
 * document), one element per file; several files for one input are several rows.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ConveyorError, type ModelSignature } from '@conveyor/shared';
import { fileError } from './inputs.js';

/** Collects a repeatable `--file` flag. */
export function collectFile(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * Which input a `--file` argument fills, and its path: `name=path` when `name` is an input of the
 * model, else the whole argument is the path of the model's only bytes input.
 */
function target(arg: string, signature: Pick<ModelSignature, 'inputs'>): [string, string] {
  const at = arg.indexOf('=');
  const name = at > 0 ? arg.slice(0, at) : undefined;
  if (name !== undefined && signature.inputs.some((spec) => spec.name === name))
    return [name, arg.slice(at + 1)];
  const bytes = signature.inputs.filter((spec) => spec.dtype === 'bytes');
  if (bytes.length === 1 && bytes[0]) return [bytes[0].name, arg];
  throw new ConveyorError(
    'ERR_VALIDATION',
    `--file ${arg}: name the input (--file <input>=<path>): the model has ${bytes.length} bytes inputs (${bytes.map((s) => s.name).join(', ') || 'none'})`,
  );
}

/**
 * Reads every `--file` into its input: one Buffer for one file (one row), an array of Buffers for
 * several; ERR_FILE_UNREADABLE for a file that cannot be read.
 */
export async function readFileInputs(
  args: readonly string[],
  cwd: string,
  signature: Pick<ModelSignature, 'inputs'>,
): Promise<Record<string, Buffer | Buffer[]>> {
  const byName = new Map<string, Buffer[]>();
  for (const arg of args) {
    const [name, path] = target(arg, signature);
    let bytes: Buffer;
    try {
      bytes = await readFile(resolve(cwd, path));
    } catch (cause) {
      throw fileError(path, 'file', cause);
    }
    byName.set(name, [...(byName.get(name) ?? []), bytes]);
  }
  return Object.fromEntries(
    [...byName].map(([name, files]) => [name, files.length === 1 ? (files[0] as Buffer) : files]),
  );
}
