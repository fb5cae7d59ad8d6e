import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import type { ModelEntry, ModelProblem, ServedModel } from '@conveyor/engine';
import {
  ConveyorError,
  ModelVersionSchema,
  silentLogger,
  toConveyorError,
  toModelName,
  type Config,
} from '@conveyor/shared';
import { configFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { importEngine } from '../deferred-imports.js';
import { EXIT } from '../exit-codes.js';
import { line } from '../io.js';
import {
  openRepository,
  problemJson,
  problemLine,
  servedJson,
  writeServed,
} from '../model-report.js';

interface Inspected {
  served: ServedModel[];
  problems: ModelProblem[];
}

/** A path rather than a model name: it has a separator, ends in .onnx, or is `.` or `..`. */
const isPath = (target: string): boolean =>
  isAbsolute(target) ||
  target.includes('/') ||
  target.includes(sep) ||
  target.endsWith('.onnx') ||
  target === '.' ||
  target === '..';

type EngineModule = Awaited<ReturnType<typeof importEngine>>;

/** Loads one version outside any repository, as its problem when it cannot be served. */
async function inspectEntry(
  read: (engine: EngineModule) => Promise<ModelEntry>,
  where: { name: string; version: string; path: string },
  config: Config,
): Promise<Inspected> {
  try {
    const engine = await importEngine();
    const entry = await read(engine);
    const served = await engine.inspectVersion(entry, {
      threads: config.INFERENCE_THREADS,
      logger: silentLogger(),
    });
    return { served: [served], problems: [] };
  } catch (error) {
    return { served: [], problems: [{ ...where, error: toConveyorError(error) }] };
  }
}

/** The model name and version a folder stands for: `<name>/<version>`, else `<name>` version 1. */
function nameOfFolder(dir: string): { name: string; version: string } {
  const inRepository = ModelVersionSchema.safeParse(basename(dir)).success;
  return {
    name: toModelName(basename(inRepository ? dirname(dir) : dir)),
    version: inRepository ? basename(dir) : '1',
  };
}

/** A folder: a version (it holds model.json or an .onnx file) or a model (its version folders). */
async function inspectFolder(dir: string, config: Config): Promise<Inspected> {
  const files = await readdir(dir);
  if (!files.some((f) => f === 'model.json' || f.endsWith('.onnx'))) {
    const engine = await openRepository(config, dirname(dir), [basename(dir)]);
    try {
      return {
        served: [...(engine.models.get(basename(dir)) ?? [])],
        problems: [...engine.problems],
      };
    } finally {
      await engine.close();
    }
  }
  const { name, version } = nameOfFolder(dir);
  return inspectEntry(
    (engine) => engine.readModelVersion(dir, name, version),
    { name, version, path: dir },
    config,
  );
}

async function inspectPath(target: string, config: Config): Promise<Inspected> {
  const info = await stat(target).catch(() => undefined);
  if (!info) {
    throw new ConveyorError('ERR_FILE_UNREADABLE', `${target} does not exist`, {
      details: { path: target },
    });
  }
  if (info.isDirectory()) return inspectFolder(target, config);
  // `model.onnx` says nothing: its folder names it, as in a repository.
  const { name, version } =
    basename(target) === 'model.onnx'
      ? nameOfFolder(dirname(target))
      : { name: toModelName(basename(target).replace(/\.onnx$/, '')), version: '1' };
  return inspectEntry(
    (engine) => engine.readModelFile(target, name, version),
    { name, version, path: target },
    config,
  );
}

async function inspectName(name: string, config: Config, cwd: string): Promise<Inspected> {
  const engine = await openRepository(config, resolve(cwd, config.MODEL_REPOSITORY), [name]);
  try {
    const served = [...(engine.models.get(name) ?? [])];
    const problems = engine.problems.filter((p) => p.name === name);
    if (served.length === 0 && problems[0]?.error.code === 'ERR_MODEL_NOT_FOUND')
      throw problems[0].error;
    return { served, problems };
  } finally {
    await engine.close();
  }
}

/** `conveyor models inspect <model|folder|file.onnx>` */
export function registerModelsInspect(
  models: Command,
  ctx: CliContext,
  flags: readonly ConfigFlag[],
  withJson: (c: Command) => Command,
): void {
  withJson(
    models
      .command('inspect')
      .description(
        "show a model's signature as onnxruntime reports it: a model of the repository, a folder or a bare .onnx file",
      )
      .argument('<target>', 'model name, model or version folder, or .onnx file'),
  ).action(async (target: string, opts: { json?: boolean }) => {
    const config = configFrom(ctx.io.env, opts, flags);
    const result = isPath(target)
      ? await inspectPath(resolve(ctx.io.cwd, target), config)
      : await inspectName(target, config, ctx.io.cwd);
    const out = ctx.io.stdout;
    if (opts.json) {
      line(
        out,
        JSON.stringify({
          target,
          versions: result.served.map(servedJson),
          problems: result.problems.map(problemJson),
        }),
      );
    } else {
      for (const s of result.served) writeServed(out, s);
      for (const p of result.problems) line(out, problemLine(p));
    }
    ctx.exitCode = result.problems.length > 0 ? EXIT.FAILURE : EXIT.OK;
  });
}
