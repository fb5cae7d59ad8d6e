import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import type { ComparisonReport, ReplayProgress } from '@conveyor/sdk';
import { ConveyorError, type Config } from '@conveyor/shared';
import { addConfigFlags, redisConfigFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { importSdk } from '../deferred-imports.js';
import { EXIT } from '../exit-codes.js';
import { line } from '../io.js';
import { reportsText } from './compare-format.js';
import { positiveInt } from './predict.js';

const REDIS_FLAGS: readonly ConfigFlag[] = ['redisUrl', 'prefix'];

interface CompareFlags {
  serving?: string;
  candidate?: string;
  source?: 'shadow' | 'replay';
  json?: boolean;
  redisUrl?: string;
  prefix?: string;
}

interface ReplayFlags {
  version: string;
  serving?: string;
  window?: string;
  limit?: number;
  concurrency: number;
  json?: boolean;
  quiet?: boolean;
  redisUrl?: string;
  prefix?: string;
}

const UNITS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `24h`, `7d` in ms (ERR_USAGE otherwise). */
export function parseWindow(text: string): number {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  const unit = match ? UNITS_MS[match[2] as string] : undefined;
  if (!match || unit === undefined || Number(match[1]) === 0)
    throw new ConveyorError(
      'ERR_USAGE',
      `--window ${text}: give a duration such as 90s, 30m, 24h, 7d`,
    );
  return Number(match[1]) * unit;
}

const print = (ctx: CliContext, model: string, reports: ComparisonReport[], json?: boolean) =>
  line(
    ctx.io.stdout,
    json ? JSON.stringify({ model, comparisons: reports }) : reportsText(model, reports),
  );

function registerCompareCommand(models: Command, ctx: CliContext): void {
  addConfigFlags(
    models
      .command('compare')
      .description(
        'shadow and replay comparisons of version pairs: agreement, differences, latency',
      )
      .argument('<model>', 'model name')
      .option('--serving <version>', 'only pairs whose serving (or logged) version is this one')
      .option('--candidate <version>', 'only pairs whose shadow or replayed version is this one')
      .option('--source <source>', 'only `shadow` or only `replay` comparisons'),
    REDIS_FLAGS,
  )
    .option('--json', 'print JSON')
    .action(async (model: string, flags: CompareFlags) => {
      const config = redisConfigFrom(ctx, flags, REDIS_FLAGS);
      const { createModelAdmin } = await importSdk();
      const admin = await createModelAdmin(adminOptions(config));
      try {
        const reports = await admin.compare(model, {
          ...(flags.serving !== undefined && { serving: flags.serving }),
          ...(flags.candidate !== undefined && { candidate: flags.candidate }),
          ...(flags.source !== undefined && { source: flags.source }),
        });
        print(ctx, model, reports, flags.json);
      } finally {
        await admin.close();
      }
      ctx.exitCode = EXIT.OK;
    });
}

const adminOptions = (config: Config) => ({
  redisUrl: config.REDIS_URL,
  prefix: config.REDIS_KEY_PREFIX,
  modelExpiryMs: config.MODEL_EXPIRY_MS,
});

/** A cli-progress bar on a terminal; a line every 2 s otherwise; nothing when quiet. */
function replayProgress(ctx: CliContext, quiet: boolean) {
  const { stderr } = ctx.io;
  if (quiet) return { update: () => undefined, stop: () => undefined };
  const text = (p: ReplayProgress) =>
    `${p.compared + p.failed}/${p.total} replayed, ${p.failed} failed, ${p.skipped} skipped`;
  if (stderr.isTTY) {
    const bar = new SingleBar({
      stream: stderr,
      format: 'replay {bar} {value}/{total} | {failed} failed | {skipped} skipped',
      hideCursor: true,
      fps: 5,
    });
    let started = false;
    const update = (p: ReplayProgress) => {
      const payload = { failed: p.failed, skipped: p.skipped };
      const value = p.compared + p.failed + p.skipped;
      if (!started) bar.start(Math.max(p.total, value), value, payload);
      else bar.update(value, payload);
      started = true;
    };
    return { update, stop: (p: ReplayProgress) => (update(p), bar.stop()) };
  }
  let last = 0;
  return {
    update(p: ReplayProgress) {
      if (Date.now() - last < 2000) return;
      last = Date.now();
      line(stderr, `conveyor: replay: ${text(p)}`);
    },
    stop: (p: ReplayProgress) => line(stderr, `conveyor: replay: ${text(p)}`),
  };
}

function registerReplayCommand(program: Command, ctx: CliContext): void {
  addConfigFlags(
    program
      .command('replay')
      .description(
        "replay a model's logged inputs against a candidate version through the queue, at the lowest priority, and compare the answers",
      )
      .argument('<model>', 'model name')
      .requiredOption('--version <n>', 'the candidate version')
      .option('--serving <version>', 'only predictions logged by this version')
      .option('--window <duration>', 'logged within this long before now: 90s, 30m, 24h, 7d')
      .option('--limit <n>', 'most logged predictions replayed', positiveInt)
      .option('--concurrency <n>', 'replayed jobs in flight at once', positiveInt, 16)
      .option('--quiet', 'no progress on stderr'),
    REDIS_FLAGS,
  )
    .option('--json', 'print JSON')
    .action(async (model: string, flags: ReplayFlags) => {
      const config = redisConfigFrom(ctx, flags, REDIS_FLAGS);
      const since = flags.window === undefined ? undefined : Date.now() - parseWindow(flags.window);
      const { createClient } = await importSdk();
      const client = await createClient({
        ...adminOptions(config),
        timeoutMs: config.PREDICT_TIMEOUT_MS,
      });
      const progress = replayProgress(ctx, flags.quiet === true || flags.json === true);
      let last: ReplayProgress | undefined;
      try {
        const reports = await client.replay(
          model,
          {
            version: flags.version,
            concurrency: flags.concurrency,
            ...(since !== undefined && { since }),
            ...(flags.serving !== undefined && { serving: flags.serving }),
            ...(flags.limit !== undefined && { limit: flags.limit }),
          },
          (p) => {
            last = p;
            progress.update(p);
          },
        );
        if (last) progress.stop(last);
        print(ctx, model, reports, flags.json);
      } finally {
        await client.close();
      }
      ctx.exitCode = EXIT.OK;
    });
}

/**
 * `conveyor models compare` (added to the `models` command; call after registerModels) and
 * `conveyor replay`: see docs/lifecycle.md, "Shadow and replay".
 */
export function registerCompare(program: Command, ctx: CliContext): void {
  const models = program.commands.find((c) => c.name() === 'models');
  if (models === undefined) throw new Error('registerModels must run before registerCompare');
  registerCompareCommand(models, ctx);
  registerReplayCommand(program, ctx);
}
