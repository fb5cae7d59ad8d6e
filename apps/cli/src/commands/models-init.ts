import { constants } from 'node:fs';
import { copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  checkOnnxFile,
  inferredConfig,
  inspectVersion,
  readModelVersion,
  type ServedModel,
} from '@conveyor/engine';
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

/** Creates the version folder; an existing one is never touched. */
async function createVersionDir(dir: string, name: string, version: string): Promise<void> {
  await mkdir(dirname(dir), { recursive: true });
  try {
    await mkdir(dir);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw cause;
    throw new ConveyorError(
      'ERR_MODEL_VERSION_EXISTS',
      `${dir} already exists: model "${name}" version ${version} is never overwritten; leave --version out for the next free one`,
      { details: { model: name, version } },
    );
  }
}

/** Copies the model and the external data files it reads, keeping their relative paths. */
async function copyModel(
  source: string,
  dir: string,
  externalData: readonly string[],
): Promise<string[]> {
  const written = [join(dir, 'model.onnx')];
  await copyFile(source, written[0] as string, constants.COPYFILE_EXCL);
  for (const file of externalData) {
    const target = join(dir, file);
    await mkdir(dirname(target), { recursive: true });
    await copyFile(join(dirname(source), file), target, constants.COPYFILE_EXCL);
    written.push(target);
  }
  return written;
}

/** Copies the file in, loads it as a worker would and writes the model.json it inferred. */
async function initVersion(source: string, flags: InitFlags, config: Config, cwd: string) {
  const { externalData } = await checkOnnxFile(source);
  const name = parseOrThrow(
    ModelNameSchema,
    flags.name ?? toModelName(basename(source).replace(/\.onnx$/i, '')),
    '--name',
  );
  const repository = resolve(cwd, config.MODEL_REPOSITORY);
  const version =
    flags.version === undefined
      ? await nextVersion(join(repository, name))
      : parseOrThrow(ModelVersionSchema, flags.version, '--version');
  const dir = join(repository, name, version);
  await createVersionDir(dir, name, version);
  try {
    const files = await copyModel(source, dir, externalData);
    const served = await inspectVersion(await readModelVersion(dir, name, version), {
      threads: config.INFERENCE_THREADS,
      logger: silentLogger(),
    });
    const modelJson = inferredConfig(served);
    const configPath = join(dir, 'model.json');
    await writeFile(configPath, `${jsonText(modelJson)}\n`, { flag: 'wx' });
    return { served, files: [...files, configPath], modelJson, dir };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
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
