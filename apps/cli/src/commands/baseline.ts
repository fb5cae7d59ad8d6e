import { readdir, readFile, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Command } from 'commander';
import { parse as parseCsv } from 'csv-parse/sync';
import {
  ConveyorError,
  ModelConfigSchema,
  ModelNameSchema,
  ModelVersionSchema,
  compareVersions,
  computeBaseline,
  driftFeatures,
  clientRedisOf,
  parseOrThrow,
  silentLogger,
  type Baseline,
  type Config,
} from '@conveyor/shared';
import { addConfigFlags, configFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { importEngine, importSdk } from '../deferred-imports.js';
import { EXIT } from '../exit-codes.js';
import { line } from '../io.js';

const BASELINE_FLAGS: readonly ConfigFlag[] = ['repository', 'redisUrl', 'prefix'];

interface BaselineFlags {
  from: string;
  version?: string;
  bins: string;
  write?: boolean;
  repository?: string;
}

const usage = (message: string, details: Record<string, unknown> = {}) =>
  new ConveyorError('ERR_USAGE', message, { details });

/** Rows of a CSV file with a header line, or of an NDJSON file (one JSON object per line). */
export function readRows(text: string, file: string): Record<string, unknown>[] {
  const ext = extname(file).toLowerCase();
  if (ext === '.csv') {
    try {
      return parseCsv<Record<string, unknown>>(text, {
        columns: true,
        skip_empty_lines: true,
        trim: true,
      });
    } catch (error) {
      throw usage(`${file}: not a CSV file with a header line: ${(error as Error).message}`);
    }
  }
  if (ext === '.ndjson' || ext === '.jsonl') {
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l, i) => {
        try {
          const row: unknown = JSON.parse(l);
          if (typeof row === 'object' && row !== null && !Array.isArray(row))
            return row as Record<string, unknown>;
        } catch {
          // Reported below, with the line.
        }
        throw usage(`${file}:${i + 1}: not a JSON object`);
      });
  }
  throw usage(`${file}: give a .csv (with a header line), .ndjson or .jsonl file`);
}

/** The values of each feature in the rows; a feature missing from every row is ERR_USAGE. */
export function featureColumns(
  rows: readonly Record<string, unknown>[],
  features: readonly string[],
): Map<string, number[]> {
  const columns = new Map<string, number[]>();
  const missing: string[] = [];
  for (const name of features) {
    const values: number[] = [];
    for (const row of rows) {
      const value = row[name];
      const number = Number(value);
      if (value !== '' && value !== null && value !== undefined && Number.isFinite(number))
        values.push(number);
    }
    if (values.length === 0) missing.push(name);
    else columns.set(name, values);
  }
  if (missing.length > 0) {
    const found = Object.keys(rows[0] ?? {});
    throw usage(
      `the data has no numbers for feature(s) ${missing.join(', ')}; its columns are ${found.join(', ') || 'none'}`,
      { missing },
    );
  }
  return columns;
}

/** The newest version folder of a model in the repository. */
async function newestVersion(root: string, model: string): Promise<string> {
  const entries = await readdir(join(root, model), { withFileTypes: true }).catch(() => []);
  const versions = entries
    .filter((e) => e.isDirectory() && ModelVersionSchema.safeParse(e.name).success)
    .map((e) => e.name)
    .sort(compareVersions);
  const newest = versions.at(-1);
  if (newest === undefined)
    throw new ConveyorError('ERR_MODEL_NOT_FOUND', `no version of ${model} in ${root}`, {
      details: { model },
    });
  return newest;
}

/**
 * Asks every worker to rescan its repository now, so the version is loaded again with its new
 * model.json; undefined when Redis cannot be reached (workers then find it at their next rescan).
 */
async function askRescan(config: Config): Promise<number | undefined> {
  try {
    const { createModelAdmin } = await importSdk();
    const admin = await createModelAdmin({
      ...clientRedisOf(config),
      prefix: config.REDIS_KEY_PREFIX,
      modelExpiryMs: config.MODEL_EXPIRY_MS,
    });
    try {
      return await admin.requestRescan();
    } finally {
      await admin.close();
    }
  } catch {
    return undefined;
  }
}

/** Writes `baseline` into a version's model.json, keeping every other field as it is. */
async function writeBaseline(dir: string, baseline: Baseline): Promise<string> {
  const file = join(dir, 'model.json');
  const text = await readFile(file, 'utf8').catch(() => '{}');
  const config = JSON.parse(text) as Record<string, unknown>;
  config.baseline = baseline;
  parseOrThrow(ModelConfigSchema, config, file);
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

/**
 * `conveyor baseline <model> --from <file>`: the baseline of a version's input features (mean,
 * standard deviation, quantile histogram) from its training data; printed, or with --write stored
 * in that version's model.json.
 */
export function registerBaseline(program: Command, ctx: CliContext): void {
  addConfigFlags(
    program
      .command('baseline')
      .description("compute a model version's input baseline (for drift) from training data")
      .argument('<model>', 'model name')
      .requiredOption('--from <file>', 'training data: .csv with a header line, .ndjson or .jsonl')
      .option('--version <version>', 'the version (default: the newest in the repository)')
      .option('--bins <n>', 'histogram bins per feature (quantile edges)', '10')
      .option('--write', "write it into the version's model.json instead of printing it"),
    BASELINE_FLAGS,
  ).action(async (model: string, flags: BaselineFlags) => {
    const config = configFrom(ctx.io.env, flags, BASELINE_FLAGS);
    const name = parseOrThrow(ModelNameSchema, model, 'model');
    const bins = Number(flags.bins);
    if (!Number.isInteger(bins) || bins < 2 || bins > 1000)
      throw usage('--bins: an integer from 2 to 1000');
    const root = config.MODEL_REPOSITORY;
    const version = flags.version ?? (await newestVersion(root, name));
    const dir = join(root, name, version);
    const { inspectVersion, readModelVersion } = await importEngine();
    const entry = await readModelVersion(dir, name, version);
    const served = await inspectVersion(entry, { threads: 1, logger: silentLogger() });
    const features = driftFeatures(served.signature.inputs, entry.config.preprocess);
    if (features.length === 0)
      throw usage(`${name}@${version} has no numeric input feature to take a baseline of`);
    const text = await readFile(flags.from, 'utf8').catch((cause: unknown) => {
      throw usage(`cannot read ${flags.from}: ${(cause as Error).message}`);
    });
    const rows = readRows(text, flags.from);
    const columns = featureColumns(
      rows,
      features.map((f) => f.name),
    );
    const baseline = computeBaseline(columns, bins);
    if (flags.write) {
      const file = await writeBaseline(dir, baseline);
      line(
        ctx.io.stdout,
        `wrote the baseline of ${columns.size} features (${baseline.rows} rows) to ${file}`,
      );
      const notified = await askRescan(config);
      line(
        ctx.io.stdout,
        notified === undefined
          ? 'workers not asked to rescan (Redis did not answer): they load it at their next rescan'
          : `workers asked to rescan: ${notified}`,
      );
    } else line(ctx.io.stdout, JSON.stringify(baseline, null, 2));
    ctx.exitCode = EXIT.OK;
  });
}
