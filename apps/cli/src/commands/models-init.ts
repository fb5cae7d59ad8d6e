import { constants } from 'node:fs';
import {
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  rename,
  rm,
  rmdir,
  stat,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import type { ServedModel } from '@conveyor/engine';
import {
  ConveyorError,
  ModelNameSchema,
  ModelVersionSchema,
  parseOrThrow,
  silentLogger,
  toModelName,
  type Config,
} from '@conveyor/shared';
import { configFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { importEngine } from '../deferred-imports.js';
import { EXIT } from '../exit-codes.js';
import { line } from '../io.js';
import { degradedLine, specLines } from '../model-report.js';

interface InitFlags {
  name?: string;
  version?: string;
  json?: boolean;
}

/** JSON indented by two, with arrays of plain values (shapes, labels) kept on one line. */
function jsonText(value: unknown): string {
  // Only structural newlines are real ones (JSON escapes them inside strings).
  return JSON.stringify(value, null, 2).replace(
    /\[\n\s+([^[\]{}]*?)\n\s*\]/g,
    (_, items: string) => `[${items.replace(/,\n\s+/g, ', ')}]`,
  );
}

/** One more than the newest version folder of a model, or "1". */
async function nextVersion(modelDir: string): Promise<string> {
  const items = await readdir(modelDir).catch(() => []);
  const versions = items.filter((v) => ModelVersionSchema.safeParse(v).success).map(Number);
  return String(Math.max(0, ...versions) + 1);
}

/** ERR_MODEL_VERSION_EXISTS unless the version folder is free. */
async function assertFree(dir: string, name: string, version: string): Promise<void> {
  if (!(await stat(dir).catch(() => undefined))) return;
  throw new ConveyorError(
    'ERR_MODEL_VERSION_EXISTS',
    `${dir} already exists: model "${name}" version ${version} is never overwritten; leave --version out for the next free one`,
    { details: { model: name, version } },
  );
}

/** Copies the model and the external data files it reads; returns their paths inside `dir`. */
async function copyModel(
  source: string,
  dir: string,
  externalData: readonly string[],
): Promise<string[]> {
  await copyFile(source, join(dir, 'model.onnx'), constants.COPYFILE_EXCL);
  for (const file of externalData) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await copyFile(join(dirname(source), file), join(dir, file), constants.COPYFILE_EXCL);
  }
  return ['model.onnx', ...externalData];
}

/**
 * Copies the file into a hidden folder of the model (which a worker's rescan skips), loads it as
 * a worker would, writes the model.json it inferred there, and only then renames the folder into
 * place: a running worker sees the whole version or none of it.
 */
async function initVersion(source: string, flags: InitFlags, config: Config, cwd: string) {
  const { checkOnnxFile, inferredConfig, inspectVersion, readModelVersion } = await importEngine();
  const { externalData } = await checkOnnxFile(source);
  const name = parseOrThrow(
    ModelNameSchema,
    flags.name ?? toModelName(basename(source).replace(/\.onnx$/i, '')),
    '--name',
  );
  const modelDir = join(resolve(cwd, config.MODEL_REPOSITORY), name);
  const version =
    flags.version === undefined
      ? await nextVersion(modelDir)
      : parseOrThrow(ModelVersionSchema, flags.version, '--version');
  const dir = join(modelDir, version);
  await assertFree(dir, name, version);
  // A model folder made here and left empty would be reported as a model with no versions.
  const madeModelDir = (await mkdir(modelDir, { recursive: true })) !== undefined;
  const staging = await mkdtemp(join(modelDir, '.init-'));
  try {
    const files = await copyModel(source, staging, externalData);
    const served = await inspectVersion(await readModelVersion(staging, name, version), {
      threads: config.INFERENCE_THREADS,
      logger: silentLogger(),
    });
    const modelJson = inferredConfig(served);
    await writeFile(join(staging, 'model.json'), `${jsonText(modelJson)}\n`, { flag: 'wx' });
    await assertFree(dir, name, version);
    await rename(staging, dir);
    return { served, files: [...files, 'model.json'].map((f) => join(dir, f)), modelJson, dir };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    if (madeModelDir) await rmdir(modelDir).catch(() => undefined);
    throw error;
  }
}

function report(
  ctx: CliContext,
  result: Awaited<ReturnType<typeof initVersion>>,
  served: ServedModel,
) {
  const out = ctx.io.stdout;
  const show = (path: string) => {
    const rel = relative(ctx.io.cwd, path);
    return rel.startsWith('..') || rel === '' ? path : rel;
  };
  for (const file of result.files) line(out, `wrote ${show(file)}`);
  line(out);
  line(out, `${show(join(result.dir, 'model.json'))}:`);
  line(out, jsonText(result.modelJson));
  line(out);
  for (const l of specLines(served)) line(out, `  ${l}`);
  line(out);
  if (served.state === 'degraded') line(out, degradedLine(served));
  const name = served.entry.name;
  line(
    out,
    `next: conveyor predict ${name} --embedded --input '...'; serve it with conveyor worker`,
  );
}

/** `conveyor models init <file.onnx>` */
export function registerModelsInit(
  models: Command,
  ctx: CliContext,
  flags: readonly ConfigFlag[],
  withJson: (c: Command) => Command,
): void {
  withJson(
    models
      .command('init')
      .description(
        'copy an .onnx file into the repository and write the model.json Conveyor infers for it',
      )
      .argument('<file>', 'the .onnx file')
      .option('--name <name>', "model name (default: the file's base name, made a valid name)")
      .option('--version <version>', 'version number (default: the next free one)'),
  ).action(async (file: string, opts: InitFlags) => {
    const config = configFrom(ctx.io.env, opts, flags);
    const source = resolve(ctx.io.cwd, file);
    const info = await stat(source).catch(() => undefined);
    if (!info?.isFile())
      throw new ConveyorError('ERR_FILE_UNREADABLE', `${source} is not a file`, {
        details: { path: source },
      });
    const result = await initVersion(source, opts, config, ctx.io.cwd);
    const { served } = result;
    if (opts.json) {
      line(
        ctx.io.stdout,
        JSON.stringify({
          name: served.entry.name,
          version: served.entry.version,
          files: result.files,
          config: result.modelJson,
          state: served.state,
          ...(served.stateReason !== undefined && { stateReason: served.stateReason }),
        }),
      );
    } else report(ctx, result, served);
    ctx.exitCode = EXIT.OK;
  });
}
