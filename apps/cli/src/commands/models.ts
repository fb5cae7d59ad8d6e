import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createEngine, type Engine, type ModelProblem, type ServedModel } from '@conveyor/engine';
import { ConveyorError, silentLogger, type Config } from '@conveyor/shared';
import { addConfigFlags, configFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { describeSpec, table } from '../format.js';
import { line } from '../io.js';

const MODELS_FLAGS: readonly ConfigFlag[] = ['repository', 'threads'];

interface ModelsFlags {
  repository?: string;
  threads?: string;
  json?: boolean;
}

async function openRepository(
  config: Config,
  repository: string,
  only: readonly string[] = [],
): Promise<Engine> {
  return createEngine({
    repository,
    models: only,
    threads: config.INFERENCE_THREADS,
    logger: silentLogger(),
  });
}

function problemJson(problem: ModelProblem): Record<string, unknown> {
  return {
    name: problem.name,
    ...(problem.version !== undefined && { version: problem.version }),
    path: problem.path,
    code: problem.error.code,
    message: problem.error.message,
  };
}

function servedJson(served: ServedModel): Record<string, unknown> {
  return {
    name: served.entry.name,
    version: served.entry.version,
    ...(served.entry.config.description !== undefined && {
      description: served.entry.config.description,
    }),
    path: served.entry.modelPath,
    inputs: served.signature.inputs,
    outputs: served.signature.outputs,
  };
}

const problemLine = (p: ModelProblem) =>
  `${p.error.code}: ${p.name}${p.version === undefined ? '' : `@${p.version}`}: ${p.error.message}`;

function specLines(served: ServedModel): string[] {
  const rows: string[][] = [['', 'name', 'type', 'labels']];
  for (const [kind, specs] of [
    ['input', served.signature.inputs],
    ['output', served.signature.outputs],
  ] as const) {
    for (const spec of specs)
      rows.push([kind, spec.name, describeSpec(spec), spec.labels?.join(', ') ?? '']);
  }
  return table(rows).split('\n');
}

/** `conveyor models list|inspect|validate`: the model repository as onnxruntime sees it. */
export function registerModels(program: Command, ctx: CliContext): void {
  const models = program
    .command('models')
    .description('list, inspect and validate the models of a model repository')
    .addHelpText(
      'after',
      `
The repository is --repository, else MODEL_REPOSITORY, else ./models. Each model is loaded in
onnxruntime and its model.json checked against what the runtime reports.

Examples:
  conveyor models list
  conveyor models inspect iris --json
  conveyor models validate ./my-models     # exits 1 and lists each problem when one is found`,
    );

  const withJson = (command: Command) =>
    addConfigFlags(command, MODELS_FLAGS).option('--json', 'print JSON');

  withJson(
    models.command('list').description('list every model version and whether it loads'),
  ).action(async (flags: ModelsFlags) => {
    const config = configFrom(ctx.io.env, flags, MODELS_FLAGS);
    const repository = resolve(ctx.io.cwd, config.MODEL_REPOSITORY);
    const engine = await openRepository(config, repository);
    try {
      const served = [...engine.models.values()].flat();
      if (flags.json) {
        line(
          ctx.io.stdout,
          JSON.stringify({
            repository,
            models: served.map(servedJson),
            problems: engine.problems.map(problemJson),
          }),
        );
      } else {
        const rows = [['model', 'version', 'inputs', 'outputs', 'status']];
        for (const s of served) {
          rows.push([
            s.entry.name,
            s.entry.version,
            s.signature.inputs.map((i) => `${i.name} ${describeSpec(i)}`).join('; '),
            s.signature.outputs.map((o) => `${o.name} ${describeSpec(o)}`).join('; '),
            'ok',
          ]);
        }
        for (const p of engine.problems)
          rows.push([p.name, p.version ?? '-', '', '', p.error.code]);
        line(ctx.io.stdout, `repository: ${repository}`);
        line(ctx.io.stdout, table(rows));
        for (const p of engine.problems) line(ctx.io.stdout, problemLine(p));
      }
    } finally {
      await engine.close();
    }
    ctx.exitCode = EXIT.OK;
  });

  withJson(
    models
      .command('inspect')
      .description("show a model's signature: inputs and outputs as onnxruntime reports them")
      .argument('<name>', 'model name'),
  ).action(async (name: string, flags: ModelsFlags) => {
    const config = configFrom(ctx.io.env, flags, MODELS_FLAGS);
    const engine = await openRepository(config, resolve(ctx.io.cwd, config.MODEL_REPOSITORY), [
      name,
    ]);
    try {
      const served = engine.models.get(name) ?? [];
      const problems = engine.problems.filter((p) => p.name === name);
      if (
        served.length === 0 &&
        problems.length === 1 &&
        problems[0]?.error.code === 'ERR_MODEL_NOT_FOUND'
      )
        throw problems[0].error;
      if (flags.json) {
        line(
          ctx.io.stdout,
          JSON.stringify({
            name,
            versions: served.map(servedJson),
            problems: problems.map(problemJson),
          }),
        );
      } else {
        for (const s of served) {
          line(ctx.io.stdout, `${name}@${s.entry.version}  ${s.entry.modelPath}`);
          if (s.entry.config.description) line(ctx.io.stdout, `  ${s.entry.config.description}`);
          for (const l of specLines(s)) line(ctx.io.stdout, `  ${l}`);
          line(ctx.io.stdout, '  model.json matches the model');
        }
        for (const p of problems) line(ctx.io.stdout, problemLine(p));
      }
      ctx.exitCode = problems.length > 0 ? EXIT.FAILURE : EXIT.OK;
    } finally {
      await engine.close();
    }
  });

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
      const served = [...engine.models.values()].flat();
      const problems = [...engine.problems];
      if (served.length === 0 && problems.length === 0) {
        throw new ConveyorError('ERR_VALIDATION', `model repository ${repository} has no models`, {
          details: { repository },
        });
      }
      if (flags.json) {
        line(
          ctx.io.stdout,
          JSON.stringify({
            repository,
            valid: served.map((s) => `${s.entry.name}@${s.entry.version}`),
            problems: problems.map(problemJson),
          }),
        );
      } else {
        for (const s of served) line(ctx.io.stdout, `ok: ${s.entry.name}@${s.entry.version}`);
        for (const p of problems) line(ctx.io.stdout, problemLine(p));
        line(
          ctx.io.stdout,
          `${served.length} valid, ${problems.length} ${problems.length === 1 ? 'problem' : 'problems'} in ${repository}`,
        );
      }
      ctx.exitCode = problems.length > 0 ? EXIT.FAILURE : EXIT.OK;
    } finally {
      await engine.close();
    }
  });
}
