import { readFile, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  ConveyorError,
  ModelConfigSchema,
  ModelNameSchema,
  ModelVersionSchema,
  parseOrThrow,
  toConveyorError,
  type ModelConfig,
} from '@conveyor/shared';

/** One model version found on disk: `<root>/<name>/<version>/model.json` and its .onnx file. */
export interface ModelEntry {
  readonly name: string;
  readonly version: string;
  readonly dir: string;
  readonly modelPath: string;
  readonly config: ModelConfig;
}

/** A model version that cannot be served, and why. */
export interface ModelProblem {
  readonly name: string;
  readonly version?: string;
  readonly path: string;
  readonly error: ConveyorError;
}

export interface RepositoryScan {
  readonly entries: readonly ModelEntry[];
  readonly problems: readonly ModelProblem[];
}

async function listDirs(path: string): Promise<string[]> {
  const items = await readdir(path, { withFileTypes: true });
  return items
    .filter((item) => item.isDirectory() && !item.name.startsWith('.'))
    .map((item) => item.name);
}

async function readEntry(root: string, name: string, version: string): Promise<ModelEntry> {
  const dir = join(root, name, version);
  const configPath = join(dir, 'model.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(configPath, 'utf8'));
  } catch (cause) {
    const reason =
      (cause as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'is missing'
        : `is not valid JSON (${String(cause)})`;
    throw new ConveyorError('ERR_MODEL_CONFIG_INVALID', `${configPath} ${reason}`, {
      cause,
      details: { path: configPath },
    });
  }
  const config = parseOrThrow(ModelConfigSchema, raw, configPath, 'ERR_MODEL_CONFIG_INVALID');
  if (config.name !== name) {
    throw new ConveyorError(
      'ERR_MODEL_CONFIG_INVALID',
      `${configPath} names the model "${config.name}" but lives in folder "${name}"`,
    );
  }
  const modelPath = join(dir, config.file);
  const info = await stat(modelPath).catch(() => undefined);
  if (!info?.isFile()) {
    throw new ConveyorError('ERR_MODEL_UNAVAILABLE', `${modelPath} is missing`, {
      details: { path: modelPath },
    });
  }
  return Object.freeze({ name, version, dir, modelPath, config });
}

/**
 * Reads the model repository: every valid `<name>/<version>` folder becomes an entry; every
 * folder that cannot be served becomes a problem, so one broken model never hides the others.
 * With `only`, just those models are read and a missing one is a problem.
 */
export async function scanRepository(
  root: string,
  only: readonly string[] = [],
): Promise<RepositoryScan> {
  const base = resolve(root);
  const entries: ModelEntry[] = [];
  const problems: ModelProblem[] = [];
  let names: string[];
  try {
    names = await listDirs(base);
  } catch (cause) {
    throw new ConveyorError(
      'ERR_CONFIG_INVALID',
      `model repository ${base} cannot be read: ${String(cause)}`,
      { cause },
    );
  }
  for (const wanted of only) {
    if (!names.includes(wanted)) {
      problems.push({
        name: wanted,
        path: join(base, wanted),
        error: new ConveyorError('ERR_MODEL_NOT_FOUND', `model "${wanted}" is not in ${base}`),
      });
    }
  }
  for (const name of names.sort()) {
    if (only.length > 0 && !only.includes(name)) continue;
    if (!ModelNameSchema.safeParse(name).success) {
      problems.push({
        name,
        path: join(base, name),
        error: new ConveyorError(
          'ERR_MODEL_CONFIG_INVALID',
          `folder "${name}" is not a valid model name`,
        ),
      });
      continue;
    }
    const versions = await listDirs(join(base, name));
    if (versions.length === 0) {
      problems.push({
        name,
        path: join(base, name),
        error: new ConveyorError('ERR_MODEL_UNAVAILABLE', `model "${name}" has no version folders`),
      });
    }
    for (const version of versions) {
      const path = join(base, name, version);
      if (!ModelVersionSchema.safeParse(version).success) {
        problems.push({
          name,
          version,
          path,
          error: new ConveyorError(
            'ERR_MODEL_CONFIG_INVALID',
            `${path}: versions are positive integers`,
          ),
        });
        continue;
      }
      try {
        entries.push(await readEntry(base, name, version));
      } catch (error) {
        problems.push({ name, version, path, error: toConveyorError(error) });
      }
    }
  }
  return { entries, problems };
}
