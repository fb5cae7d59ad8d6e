import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import {
  ConveyorError,
  ModelConfigSchema,
  ModelNameSchema,
  ModelVersionSchema,
  toConveyorError,
  zodIssues,
  type ModelConfig,
} from '@conveyor/shared';
import { issuesError, issuesOf, type ModelIssue, type ModelProblem } from './model-problem.js';
import { checkOnnxFile } from './onnx-file.js';
import { pipelineFiles } from './pipeline/pipeline-files.js';

/**
 * One model version found on disk: `<root>/<name>/<version>/` with its .onnx file and optional
 * model.json.
 */
export interface ModelEntry {
  readonly name: string;
  readonly version: string;
  readonly dir: string;
  readonly modelPath: string;
  /** The version's model.json, or undefined when it has none (every setting then takes its default). */
  readonly configPath: string | undefined;
  readonly config: ModelConfig;
}

export interface RepositoryScan {
  readonly entries: readonly ModelEntry[];
  readonly problems: readonly ModelProblem[];
}

const CONFIG_FILE = 'model.json';
const DEFAULT_CONFIG: ModelConfig = ModelConfigSchema.parse({});

async function listDirs(path: string): Promise<string[]> {
  const items = await readdir(path, { withFileTypes: true });
  return items
    .filter((item) => item.isDirectory() && !item.name.startsWith('.'))
    .map((item) => item.name);
}

async function onnxFilesIn(dir: string): Promise<string[]> {
  const items = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return items.filter((i) => i.isFile() && i.name.endsWith('.onnx')).map((i) => i.name);
}

/** Reads model.json when there is one; its problems are added to `issues`. */
async function readConfig(
  configPath: string,
  name: string,
  issues: ModelIssue[],
): Promise<ModelConfig | undefined> {
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return DEFAULT_CONFIG;
    issues.push({
      code: 'ERR_MODEL_CONFIG_INVALID',
      path: CONFIG_FILE,
      message: `${CONFIG_FILE} cannot be read: ${String(cause)}`,
    });
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    issues.push({
      code: 'ERR_MODEL_CONFIG_INVALID',
      path: CONFIG_FILE,
      message: `${CONFIG_FILE} is not valid JSON (${(cause as Error).message}): fix it, or delete it to use the model as it is`,
    });
    return undefined;
  }
  const parsed = ModelConfigSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of zodIssues(parsed.error)) {
      issues.push({
        code: 'ERR_MODEL_CONFIG_INVALID',
        path: `${CONFIG_FILE} ${issue.path}`,
        message: `${CONFIG_FILE} ${issue.path}: ${issue.message}`,
      });
    }
    return undefined;
  }
  if (parsed.data.name !== undefined && parsed.data.name !== name) {
    issues.push({
      code: 'ERR_MODEL_CONFIG_INVALID',
      path: `${CONFIG_FILE} name`,
      message: `${CONFIG_FILE} names the model "${parsed.data.name}" but its folder is "${name}": remove "name" or rename the folder`,
    });
  }
  return parsed.data;
}

/** Checks the version's .onnx file; its problems are added to `issues`. */
async function checkModelFile(dir: string, file: string, issues: ModelIssue[]): Promise<void> {
  const modelPath = join(dir, file);
  const info = await stat(modelPath).catch(() => undefined);
  if (!info?.isFile()) {
    const others = (await onnxFilesIn(dir)).filter((f) => f !== file);
    const hint =
      others.length === 1
        ? `: rename ${others[0]} to ${file}, or set "file": "${others[0]}" in ${CONFIG_FILE}`
        : `: put the model there${others.length > 1 ? `, or pick one of ${others.join(', ')} with "file" in ${CONFIG_FILE}` : ''}`;
    issues.push({
      code: 'ERR_MODEL_UNAVAILABLE',
      path: file,
      message: `${modelPath} is missing${hint}`,
    });
    return;
  }
  try {
    await checkOnnxFile(modelPath, dir);
  } catch (error) {
    issues.push(...issuesOf(toConveyorError(error), file));
  }
}

/**
 * Reads one version folder: its optional model.json and its .onnx file (checked to be an ONNX
 * model whose external data stays in the folder). Throws one ConveyorError listing every problem.
 */
export async function readModelVersion(
  dir: string,
  name: string,
  version: string,
): Promise<ModelEntry> {
  const issues: ModelIssue[] = [];
  const configPath = join(dir, CONFIG_FILE);
  const config = await readConfig(configPath, name, issues);
  const files = config?.pipeline
    ? pipelineFiles(config.pipeline)
    : [config?.file ?? DEFAULT_CONFIG.file];
  for (const file of files) await checkModelFile(dir, file, issues);
  if (issues.length > 0 || config === undefined) throw issuesError(dir, issues);
  return Object.freeze({
    name,
    version,
    dir,
    // A pipeline has no model file: its model.json stands for it (and stamps its changes).
    modelPath: config.pipeline ? configPath : join(dir, config.file),
    configPath: config === DEFAULT_CONFIG ? undefined : configPath,
    config,
  });
}

/**
 * A version made of a bare .onnx file (no model.json), after checking that it is an ONNX model
 * whose external data stays in its folder, as version `version` (default "1") of model `name`.
 */
export async function readModelFile(
  modelPath: string,
  name: string,
  version = '1',
): Promise<ModelEntry> {
  const path = resolve(modelPath);
  const dir = resolve(path, '..');
  const issues: ModelIssue[] = [];
  await checkModelFile(dir, basename(path), issues);
  if (issues.length > 0) throw issuesError(path, issues);
  return Object.freeze({
    name,
    version,
    dir,
    modelPath: path,
    configPath: undefined,
    config: { ...DEFAULT_CONFIG, file: basename(path) },
  });
}

/** Sizes and modification times of a version's files: changes when either file is replaced. */
export async function versionStamp(
  entry: Pick<ModelEntry, 'modelPath' | 'configPath'>,
): Promise<string> {
  const parts = await Promise.all(
    [entry.modelPath, entry.configPath].map(async (p) => {
      if (p === undefined) return '-';
      const info = await stat(p).catch(() => undefined);
      return info ? `${info.size}@${info.mtimeMs}` : '?';
    }),
  );
  return parts.join('|');
}

async function scanModel(
  base: string,
  name: string,
  problems: ModelProblem[],
  entries: ModelEntry[],
): Promise<void> {
  const problem = (
    message: string,
    code: 'ERR_MODEL_CONFIG_INVALID' | 'ERR_MODEL_UNAVAILABLE',
    version?: string,
  ) => {
    const path = version === undefined ? join(base, name) : join(base, name, version);
    problems.push({
      name,
      ...(version !== undefined && { version }),
      path,
      error: new ConveyorError(code, message),
    });
  };
  if (!ModelNameSchema.safeParse(name).success) {
    problem(
      `folder "${name}" is not a valid model name: use 1-64 characters of a-z, 0-9, "-" and "_"`,
      'ERR_MODEL_CONFIG_INVALID',
    );
    return;
  }
  const versions = await listDirs(join(base, name));
  if (versions.length === 0) {
    const loose = await onnxFilesIn(join(base, name));
    problem(
      `model "${name}" has no version folders${loose.length > 0 ? `: move ${loose[0]} into ${join(name, '1', 'model.onnx')}` : ''}`,
      'ERR_MODEL_UNAVAILABLE',
    );
  }
  for (const version of versions) {
    if (!ModelVersionSchema.safeParse(version).success) {
      problem(
        `${join(base, name, version)}: versions are positive integers`,
        'ERR_MODEL_CONFIG_INVALID',
        version,
      );
      continue;
    }
    try {
      entries.push(await readModelVersion(join(base, name, version), name, version));
    } catch (error) {
      problems.push({
        name,
        version,
        path: join(base, name, version),
        error: toConveyorError(error),
      });
    }
  }
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
    if (only.length === 0 || only.includes(name)) await scanModel(base, name, problems, entries);
  }
  return { entries, problems };
}
