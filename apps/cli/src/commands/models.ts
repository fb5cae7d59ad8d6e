import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Engine, ServedModel } from '@conveyor/engine';
import { ConveyorError } from '@conveyor/shared';
import { addConfigFlags, configFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { describeSpec, table } from '../format.js';
import { line } from '../io.js';
import {
  degradedLine,
  openRepository,
  problemJson,
  problemLine,
  servedJson,
} from '../model-report.js';
import { registerModelsInit } from './models-init.js';
import { registerModelsInspect } from './models-inspect.js';
import { registerModelsTypes } from './models-types.js';

const MODELS_FLAGS: readonly ConfigFlag[] = ['repository', 'threads'];

interface ModelsFlags {
  repository?: string;
  threads?: string;
  json?: boolean;
}

const served = (engine: Engine): ServedModel[] => [...engine.models.values()].flat();

/** The list as a table: one row per version with its signature and status. */
function listTable(engine: Engine): string {
  const rows = [['model', 'version', 'inputs', 'outputs', 'status']];
  for (const s of served(engine)) {
    rows.push([
      s.entry.name,
      s.entry.version,
      s.signature.inputs.map((i) => `${i.name} ${describeSpec(i)}`).join('; '),
      s.signature.outputs.map((o) => `${o.name} ${describeSpec(o)}`).join('; '),
      s.state === 'ready' ? 'ok' : s.state,
    ]);
  }
  for (const p of engine.problems) rows.push([p.name, p.version ?? '-', '', '', p.error.code]);
  return table(rows);
}

function registerList(models: Command, ctx: CliContext, withJson: (c: Command) => Command) {
  withJson(
    models
      .command('list')
      .description('list every model version and whether it loads; exits 1 when one does not'),
  ).action(async (flags: ModelsFlags) => {
    const config = configFrom(ctx.io.env, flags, MODELS_FLAGS);
    const repository = resolve(ctx.io.cwd, config.MODEL_REPOSITORY);
    const engine = await openRepository(config, repository);
    try {
      if (flags.json) {
        line(
          ctx.io.stdout,
          JSON.stringify({
            repository,
            models: served(engine).map(servedJson),
            problems: engine.problems.map(problemJson),
          }),
        );
      } else {
        line(ctx.io.stdout, `repository: ${repository}`);
        line(ctx.io.stdout, listTable(engine));
        for (const s of served(engine).filter((v) => v.state === 'degraded'))
          line(ctx.io.stdout, degradedLine(s));
        for (const p of engine.problems) line(ctx.io.stdout, problemLine(p));
      }
      ctx.exitCode = engine.problems.length > 0 ? EXIT.FAILURE : EXIT.OK;
    } finally {
      await engine.close();
    }
  });
}

function registerValidate(models: Command, ctx: CliContext, withJson: (c: Command) => Command) {
  withJson(
    models
      .command('validate')
      .description('load every model and check its model.json; exits 1 when any problem is found')
      .argument('[dir]', 'model repository (default --repository, MODEL_REPOSITORY or ./models)'),
  ).action(async (dir: string | undefined, flags: ModelsFlags) => {
    const config = configFrom(ctx.io.env, flags, MODELS_FLAGS);
    const repository = resolve(ctx.io.cwd, dir ?? config.MODEL_REPOSITORY);
    const engine = await openRepository(config, repository);
    try {
      const valid = served(engine);
      const problems = [...engine.problems];
      if (valid.length === 0 && problems.length === 0) {
        throw new ConveyorError('ERR_VALIDATION', `model repository ${repository} has no models`, {
          details: { repository },
        });
      }
      if (flags.json) {
        line(
          ctx.io.stdout,
          JSON.stringify({
            repository,
            valid: valid.map((s) => `${s.entry.name}@${s.entry.version}`),
            degraded: valid.filter((s) => s.state === 'degraded').map(servedJson),
            problems: problems.map(problemJson),
          }),
        );
      } else {
        for (const s of valid)
          line(
            ctx.io.stdout,
            s.state === 'ready' ? `ok: ${s.entry.name}@${s.entry.version}` : degradedLine(s),
          );
        for (const p of problems) {
          line(ctx.io.stdout, problemLine(p));
          for (const issue of p.error.issues.length > 1 ? p.error.issues : [])
            line(ctx.io.stdout, `  - ${issue.path}: ${issue.message}`);
        }
        line(
          ctx.io.stdout,
          `${valid.length} valid, ${problems.length} ${problems.length === 1 ? 'problem' : 'problems'} in ${repository}`,
        );
      }
      ctx.exitCode = problems.length > 0 ? EXIT.FAILURE : EXIT.OK;
    } finally {
      await engine.close();
    }
  });
}

/** `conveyor models list|inspect|validate|init|types`: the model repository as onnxruntime sees it. */
export function registerModels(program: Command, ctx: CliContext): void {
  const models = program
    .command('models')
    .description('list, inspect, validate, add and type the models of a model repository')
    .addHelpText(
      'after',
      `
The repository is --repository, else MODEL_REPOSITORY, else ./models. A model version is a folder
<name>/<version>/ holding model.onnx; its signature comes from onnxruntime, and an optional
model.json adds labels and settings (docs/models.md).

Examples:
  conveyor models init ~/Downloads/resnet50.onnx   # copies it in, writes the model.json it infers
  conveyor models inspect resnet50
  conveyor models inspect ./model.onnx             # a bare file, or a folder
  conveyor models validate ./my-models             # exits 1 and lists each problem when one is found
  conveyor models types --out src/models.ts        # defineModel declarations for the SDK`,
    );

  const withJson = (command: Command) =>
    addConfigFlags(command, MODELS_FLAGS).option('--json', 'print JSON');

  registerList(models, ctx, withJson);
  registerModelsInspect(models, ctx, MODELS_FLAGS, withJson);
  registerValidate(models, ctx, withJson);
  registerModelsInit(models, ctx, MODELS_FLAGS, withJson);
  registerModelsTypes(models, ctx, MODELS_FLAGS, (command) =>
    addConfigFlags(command, MODELS_FLAGS),
  );
}
