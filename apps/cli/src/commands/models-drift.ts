import type { Command } from 'commander';
import { ConveyorError, parseWindow, type DriftReport } from '@conveyor/shared';
import { addConfigFlags, redisConfigFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { importSdk } from '../deferred-imports.js';
import { EXIT } from '../exit-codes.js';
import { table } from '../format.js';
import { line } from '../io.js';

const DRIFT_FLAGS: readonly ConfigFlag[] = ['redisUrl', 'prefix'];

interface DriftFlags {
  window: string;
  version?: string;
  json?: boolean;
  redisUrl?: string;
  prefix?: string;
}

const fixed = (value: number | null | undefined, digits = 3) =>
  value === null || value === undefined ? '-' : value.toFixed(digits);

const p = (value: number | undefined) =>
  value === undefined ? '-' : value < 1e-4 ? '<1e-4' : value.toFixed(4);

/** Drift as a table: one row per version and feature, the version's score first. */
export function driftText(report: DriftReport, window: string): string {
  if (report.versions.length === 0)
    return `${report.model}: no version has a baseline published (model.json "baseline", conveyor baseline)`;
  return report.versions
    .map((v) =>
      [
        `${report.model}@${v.version}: drift score ${fixed(v.score)} (largest PSI) over ${v.rows} rows in the last ${window}`,
        table([
          ['feature', 'rows', 'psi', 'ks', 'ks p', 'chi2 p', 'mean', 'baseline mean'],
          ...v.features.map((f) => [
            f.name,
            String(f.rows),
            fixed(f.psi),
            fixed(f.ks?.statistic),
            p(f.ks?.pValue),
            p(f.chiSquare?.pValue),
            fixed(f.mean),
            fixed(f.baselineMean),
          ]),
        ]),
      ].join('\n'),
    )
    .join('\n\n');
}

/** `conveyor models drift <model>`: input drift per version and feature against its baseline. */
export function registerModelsDrift(program: Command, ctx: CliContext): void {
  const models = program.commands.find((c) => c.name() === 'models');
  if (models === undefined) throw new Error('registerModels must run before registerModelsDrift');
  addConfigFlags(
    models
      .command('drift')
      .description('input drift per version and feature (PSI, KS, chi-square) against the baseline')
      .argument('<model>', 'model name')
      .option('--window <window>', 'the window ending now: 1h, 15m, 90s... up to 24h', '1h')
      .option('--version <version>', 'only this version'),
    DRIFT_FLAGS,
  )
    .option('--json', 'print JSON')
    .action(async (model: string, flags: DriftFlags) => {
      const windowMs = parseWindow(flags.window);
      if (windowMs === undefined)
        throw new ConveyorError('ERR_USAGE', '--window: 1h, 15m, 90s or 500ms, at most 24h');
      const config = redisConfigFrom(ctx, flags, DRIFT_FLAGS);
      const { createClient } = await importSdk();
      const client = await createClient({
        redisUrl: config.REDIS_URL,
        prefix: config.REDIS_KEY_PREFIX,
      });
      try {
        const report = await client.drift(model, {
          windowMs,
          ...(flags.version !== undefined && { version: flags.version }),
        });
        line(ctx.io.stdout, flags.json ? JSON.stringify(report) : driftText(report, flags.window));
        ctx.exitCode = EXIT.OK;
      } finally {
        await client.close();
      }
    });
}
