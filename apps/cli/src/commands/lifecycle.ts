import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { relative, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { ModelAdmin } from '@conveyor/sdk';
import {
  AliasTargetSchema,
  ConveyorError,
  parseOrThrow,
  type AliasChange,
  type AliasTarget,
  type Config,
  clientRedisOf,
} from '@conveyor/shared';
import { addConfigFlags, redisConfigFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { importEngine, importSdk } from '../deferred-imports.js';
import { EXIT } from '../exit-codes.js';
import { line } from '../io.js';
import { changeLine, historyTable, publishedText, statusText } from './lifecycle-format.js';
import { positiveInt } from './predict.js';

const REDIS_FLAGS: readonly ConfigFlag[] = ['redisUrl', 'prefix'];
const PUBLISH_FLAGS: readonly ConfigFlag[] = ['redisUrl', 'prefix', 'repository'];

/** Changes of the model's last alias shown by `conveyor models status`. */
const STATUS_HISTORY = 5;

interface LifecycleFlags {
  json?: boolean;
  redisUrl?: string;
  prefix?: string;
}

const LIFECYCLE_HELP = `
Lifecycle (through Redis, as the producer's /v1/models routes):
  conveyor models status iris
  conveyor models publish iris ./iris-v2.onnx            # the next free version, e.g. 2
  conveyor models rollout iris 2 --weight 10             # 10 % of production's traffic
  conveyor models promote iris                           # all of it
  conveyor models rollback iris                          # back to where it was
  conveyor models alias iris canary 2=5,1=95
  conveyor models history iris
  conveyor models shadow iris production 3               # copy production's traffic to 3
  conveyor models compare iris                           # agreement, differences, latency
  conveyor replay iris --version 3 --window 24h          # logged inputs against 3
See docs/lifecycle.md.`;

/** Who makes a change, for the alias history: `$USER@host`, or `cli@host`. */
const changedBy = (ctx: CliContext): string => `${ctx.io.env.USER ?? 'cli'}@${hostname()}`;

/** `2` is version 2 alone; `2=5,1=95` are weights. */
export function parseTarget(text: string): AliasTarget {
  const parts = text.split(',').map((p) => p.trim());
  const target: Record<string, number> = {};
  for (const part of parts) {
    const [version = '', weight] = part.split('=');
    target[version] = weight === undefined && parts.length === 1 ? 100 : Number(weight);
  }
  return parseOrThrow(AliasTargetSchema, target, `target "${text}" (a version, or v=w,...)`);
}

async function withAdmin<T>(config: Config, use: (admin: ModelAdmin) => Promise<T>): Promise<T> {
  const { createModelAdmin } = await importSdk();
  const admin = await createModelAdmin({
    ...clientRedisOf(config),
    prefix: config.REDIS_KEY_PREFIX,
    modelExpiryMs: config.MODEL_EXPIRY_MS,
  });
  try {
    return await use(admin);
  } finally {
    await admin.close();
  }
}

/** Prints an alias change (and, on stderr, the versions it names that no worker serves). */
async function report(
  ctx: CliContext,
  admin: ModelAdmin,
  model: string,
  change: AliasChange,
  json?: boolean,
) {
  const { findModelStatus, unservedWarnings } = await importSdk();
  const warnings = unservedWarnings(model, change.to, await findModelStatus(admin, model));
  if (json) line(ctx.io.stdout, JSON.stringify({ model, change, warnings }));
  else {
    line(ctx.io.stdout, changeLine(change));
    for (const w of warnings) line(ctx.io.stderr, `conveyor: warning: ${w}`);
  }
  ctx.exitCode = EXIT.OK;
}

/** Adds an alias-changing command whose action gets the admin, the change's author and its args. */
function changeCommand(
  ctx: CliContext,
  command: Command,
  change: (
    admin: ModelAdmin,
    by: string,
    args: readonly (string | undefined)[],
    flags: Record<string, unknown>,
  ) => Promise<AliasChange>,
): void {
  addConfigFlags(command, REDIS_FLAGS).option('--json', 'print JSON');
  command.action(async (...received: unknown[]) => {
    const flags = received.at(-2) as LifecycleFlags & Record<string, unknown>;
    // Commander passes the arguments (undefined for a missing optional one), the flags, the command.
    const args = received.slice(0, -2) as (string | undefined)[];
    const config = redisConfigFrom(ctx, flags, REDIS_FLAGS);
    await withAdmin(config, async (admin) => {
      const made = await change(admin, changedBy(ctx), args, flags);
      await report(ctx, admin, args[0] as string, made, flags.json);
    });
  });
}

function registerChanges(models: Command, ctx: CliContext): void {
  changeCommand(
    ctx,
    models
      .command('alias')
      .description('point an alias at a version, or at several with weights (2=5,1=95)')
      .argument('<model>', 'model name')
      .argument('<alias>', 'alias name, e.g. production, canary')
      .argument('[target]', 'a version, or version=weight pairs separated by commas')
      .option('--delete', 'delete the alias'),
    async (admin, by, [model = '', alias = '', text], flags) => {
      if (flags.delete === true) return admin.removeAlias(model, alias, { by });
      if (text === undefined)
        throw new ConveyorError(
          'ERR_USAGE',
          'give the alias a target (e.g. 2, or 2=5,1=95), or --delete',
        );
      return admin.setAlias(model, alias, parseTarget(text), { action: 'set', by });
    },
  );
  changeCommand(
    ctx,
    models
      .command('shadow')
      .description("copy an alias's traffic to a shadow version, compared and never returned")
      .argument('<model>', 'model name')
      .argument('<alias>', 'alias name, e.g. production')
      .argument('[version]', 'the shadow version')
      .option('--delete', "stop the alias's shadow"),
    async (admin, by, [model = '', alias = '', version], flags) => {
      if (flags.delete === true) return admin.removeShadow(model, alias, by);
      if (version === undefined)
        throw new ConveyorError('ERR_USAGE', 'give the shadow version (e.g. 3), or --delete');
      return admin.setShadow(model, alias, version, by);
    },
  );
  changeCommand(
    ctx,
    models
      .command('rollout')
      .description("send a percentage of production's traffic to a version")
      .argument('<model>', 'model name')
      .argument('<version>', 'the version to roll out')
      .addOption(
        new Option('--weight <percent>', 'percent of the traffic, 0-100')
          .argParser((v) => (v.trim() === '0' ? 0 : positiveInt(v)))
          .makeOptionMandatory(),
      ),
    (admin, by, [model = '', version = ''], flags) =>
      admin.rollout(model, version, flags.weight as number, by),
  );
  changeCommand(
    ctx,
    models
      .command('promote')
      .description("send all of production's traffic to a version (default its newest)")
      .argument('<model>', 'model name')
      .argument('[version]', 'the version to promote'),
    (admin, by, [model = '', version]) => admin.promote(model, version, by),
  );
  changeCommand(
    ctx,
    models
      .command('rollback')
      .description('put production back where it was before its newest version was rolled out')
      .argument('<model>', 'model name'),
    (admin, by, [model = '']) => admin.rollback(model, by),
  );
}

function registerReads(models: Command, ctx: CliContext): void {
  addConfigFlags(
    models
      .command('status')
      .description("a model's versions, aliases, where unpinned requests go, recent changes")
      .argument('<model>', 'model name'),
    REDIS_FLAGS,
  )
    .option('--json', 'print JSON')
    .action(async (model: string, flags: LifecycleFlags) => {
      const config = redisConfigFrom(ctx, flags, REDIS_FLAGS);
      await withAdmin(config, async (admin) => {
        const status = await admin.status(model);
        const history = await admin.history(model, STATUS_HISTORY);
        line(
          ctx.io.stdout,
          flags.json ? JSON.stringify({ ...status, history }) : statusText(status, history),
        );
      });
      ctx.exitCode = EXIT.OK;
    });

  addConfigFlags(
    models
      .command('history')
      .description("a model's alias changes, newest first")
      .argument('<model>', 'model name')
      .option('--limit <n>', 'most changes shown (default 20, at most 200)', positiveInt, 20),
    REDIS_FLAGS,
  )
    .option('--json', 'print JSON')
    .action(async (model: string, flags: LifecycleFlags & { limit: number }) => {
      const config = redisConfigFrom(ctx, flags, REDIS_FLAGS);
      const history = await withAdmin(config, (admin) =>
        admin.history(model, Math.min(flags.limit, 200)),
      );
      line(ctx.io.stdout, flags.json ? JSON.stringify({ model, history }) : historyTable(history));
      ctx.exitCode = EXIT.OK;
    });
}

interface PublishFlags extends LifecycleFlags {
  version?: string;
  config?: string;
  repository?: string;
}

function registerPublish(models: Command, ctx: CliContext): void {
  addConfigFlags(
    models
      .command('publish')
      .description('copy an ONNX file into the model repository as a new version, and load it')
      .argument('<model>', 'model name')
      .argument('<file>', 'the .onnx file (its external data files are copied with it)')
      .option('--version <n>', 'the version number (default: the next free one)')
      .option('--config <model.json>', 'a model.json to publish beside the model'),
    PUBLISH_FLAGS,
  )
    .option('--json', 'print JSON')
    .action(async (model: string, file: string, flags: PublishFlags) => {
      const config = redisConfigFrom(ctx, flags, PUBLISH_FLAGS);
      const repository = resolve(ctx.io.cwd, config.MODEL_REPOSITORY);
      const source = resolve(ctx.io.cwd, file);
      if (!(await stat(source).catch(() => undefined))?.isFile())
        throw new ConveyorError('ERR_FILE_UNREADABLE', `${source} is not a file`, {
          details: { path: source },
        });
      const [{ findModelStatus, pinProductionBeforePublish }, { stageModelVersion }] =
        await Promise.all([importSdk(), importEngine()]);
      await withAdmin(config, async (admin) => {
        const before = await findModelStatus(admin, model);
        const staged = await stageModelVersion({
          repository,
          name: model,
          version: flags.version,
          model: source,
          config: flags.config === undefined ? undefined : resolve(ctx.io.cwd, flags.config),
          taken: before?.versions.map((v) => v.version) ?? [],
        });
        const by = changedBy(ctx);
        const pin = await staged.commit(() =>
          pinProductionBeforePublish(admin, model, staged.version, staged.existing, by),
        );
        const notified = await admin.requestRescan();
        const inside = relative(ctx.io.cwd, staged.modelPath);
        const path = inside.startsWith('..') ? staged.modelPath : inside;
        const published = {
          name: model,
          version: staged.version,
          path,
          signature: staged.signature,
          pin,
          notified,
        };
        line(ctx.io.stdout, flags.json ? JSON.stringify(published) : publishedText(published));
      });
      ctx.exitCode = EXIT.OK;
    });
}

/**
 * `conveyor models status|alias|rollout|promote|rollback|history|publish`: the model lifecycle,
 * added to the `models` command that registerModels creates (call it after registerModels).
 */
export function registerLifecycle(program: Command, ctx: CliContext): void {
  const models = program.commands.find((c) => c.name() === 'models');
  if (models === undefined) throw new Error('registerModels must run before registerLifecycle');
  models.addHelpText('after', LIFECYCLE_HELP);
  registerReads(models, ctx);
  registerChanges(models, ctx);
  registerPublish(models, ctx);
}
