import type { Command } from 'commander';
import { clientRedisOf, type ModelAccuracy, type WindowAccuracy } from '@conveyor/shared';
import { addConfigFlags, redisConfigFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { importSdk } from '../deferred-imports.js';
import { EXIT } from '../exit-codes.js';
import { table } from '../format.js';
import { line } from '../io.js';

const ACCURACY_FLAGS: readonly ConfigFlag[] = ['redisUrl', 'prefix'];

interface AccuracyFlags {
  json?: boolean;
  redisUrl?: string;
  prefix?: string;
}

const fixed = (value: number | null, digits: number) =>
  value === null ? '-' : value.toFixed(digits);

const cells = (w: WindowAccuracy) => [
  String(w.labelled),
  w.accuracy === null ? '-' : `${(w.accuracy * 100).toFixed(1)}%`,
  String(w.valued),
  fixed(w.mae, 4),
  fixed(w.rmse, 4),
];

/** Live accuracy as a table: one row per version and window. */
export function accuracyText(report: ModelAccuracy): string {
  if (report.versions.length === 0) return `${report.model}: no feedback received in the last 24h`;
  return table([
    ['version', 'window', 'labelled', 'accuracy', 'valued', 'mae', 'rmse'],
    ...report.versions.flatMap((v) =>
      (['5m', '1h', '24h'] as const).map((w) => [v.version, w, ...cells(v.windows[w])]),
    ),
  ]);
}

/** `conveyor models accuracy <model>`: live accuracy and error per version, from feedback. */
export function registerModelsAccuracy(program: Command, ctx: CliContext): void {
  const models = program.commands.find((c) => c.name() === 'models');
  if (models === undefined)
    throw new Error('registerModels must run before registerModelsAccuracy');
  addConfigFlags(
    models
      .command('accuracy')
      .description('live accuracy (classifiers) and error (regressions) per version, from feedback')
      .argument('<model>', 'model name'),
    ACCURACY_FLAGS,
  )
    .option('--json', 'print JSON')
    .action(async (model: string, flags: AccuracyFlags) => {
      const config = redisConfigFrom(ctx, flags, ACCURACY_FLAGS);
      const { createClient } = await importSdk();
      const client = await createClient({
        ...clientRedisOf(config),
        prefix: config.REDIS_KEY_PREFIX,
      });
      try {
        const report = await client.accuracy(model);
        line(ctx.io.stdout, flags.json ? JSON.stringify(report) : accuracyText(report));
        ctx.exitCode = EXIT.OK;
      } finally {
        await client.close();
      }
    });
}
