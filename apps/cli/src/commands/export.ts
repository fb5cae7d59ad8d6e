import { once } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { SingleBar } from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import type { PredictionLogQuery } from '@conveyor/sdk';
import { ModelVersionSchema, clientRedisOf, type LoggedPrediction } from '@conveyor/shared';
import { addConfigFlags, redisConfigFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { importArrowWriter, importSdk } from '../deferred-imports.js';
import { EXIT } from '../exit-codes.js';
import { createNdjsonWriter } from '../export/ndjson-writer.js';
import { fileError } from '../inputs.js';
import { line } from '../io.js';

const EXPORT_FLAGS: readonly ConfigFlag[] = ['redisUrl', 'prefix'];

interface ExportFlags {
  out: string;
  since?: number;
  until?: number;
  version?: string;
  format?: 'ndjson' | 'arrow';
  limit?: number;
  quiet?: boolean;
  json?: boolean;
  redisUrl?: string;
  prefix?: string;
}

const UNITS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A point in time from the command line: a duration back from now (`90s`, `30m`, `24h`, `7d`) or
 * an ISO 8601 date, as ms since the epoch.
 */
export function parseSince(text: string, now = Date.now()): number {
  const ago = /^(\d+)([smhd])$/.exec(text.trim());
  if (ago) return now - Number(ago[1]) * (UNITS_MS[ago[2] as string] as number);
  const at = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text.trim()) || Number.isNaN(at))
    throw new InvalidArgumentError('expected a duration back from now (24h, 30m) or an ISO date');
  return at;
}

function parseVersion(text: string): string {
  if (!ModelVersionSchema.safeParse(text).success)
    throw new InvalidArgumentError('expected a version number such as 3');
  return text;
}

function parseFormat(text: string): 'ndjson' | 'arrow' {
  if (text !== 'ndjson' && text !== 'arrow') throw new InvalidArgumentError('ndjson or arrow');
  return text;
}

/** The format a file name implies: `.arrow`, `.arrows`, `.feather` are Arrow, anything else NDJSON. */
export function formatOf(path: string, given?: 'ndjson' | 'arrow'): 'ndjson' | 'arrow' {
  return given ?? (/\.(arrows?|feather)$/i.test(path) ? 'arrow' : 'ndjson');
}

/** Progress on stderr: a bar on a terminal, a line every 2 s otherwise, nothing when quiet. */
function exportProgress(stream: Writable & { isTTY?: boolean }, total: number, quiet: boolean) {
  if (quiet) return { tick: (_n: number) => undefined, stop: (_n: number) => undefined };
  if (stream.isTTY) {
    const bar = new SingleBar({
      stream,
      format: 'export {bar} {value}/{total} predictions',
      hideCursor: true,
      fps: 5,
    });
    bar.start(total, 0);
    return {
      tick: (n: number) => bar.update(n, {}),
      stop: (n: number) => {
        bar.update(n, {});
        bar.stop();
      },
    };
  }
  let last = Date.now();
  return {
    tick(n: number) {
      if (Date.now() - last < 2000) return;
      last = Date.now();
      line(stream, `conveyor: export: ${n} of at most ${total} predictions`);
    },
    stop: (n: number) => line(stream, `conveyor: export: ${n} predictions written`),
  };
}

async function openOut(path: string): Promise<Writable> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'w');
  } catch (cause) {
    throw fileError(path, 'output file', cause);
  }
  return handle.createWriteStream();
}

/** `conveyor export <model>`: a model's prediction log to a file, as NDJSON or Arrow IPC. */
export function registerExport(program: Command, ctx: CliContext): void {
  addConfigFlags(
    program
      .command('export')
      .description("write a model's prediction log (sampled predictions) to a file")
      .argument('<model>', 'model name')
      .requiredOption('--out <file>', 'file to write (.arrow: Arrow IPC; else NDJSON)')
      .option(
        '--since <when>',
        'predictions logged since: 24h, 30m, 7d back, or an ISO date',
        parseSince,
      )
      .option(
        '--until <when>',
        'predictions logged until: a duration back or an ISO date',
        parseSince,
      )
      .option('--version <n>', "only this version's predictions", parseVersion)
      .option('--format <format>', 'ndjson or arrow (default: from the file name)', parseFormat)
      .option('--limit <n>', 'at most this many predictions', (v) => {
        const n = Number(v);
        if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
        return n;
      })
      .option('--quiet', 'no progress on stderr'),
    EXPORT_FLAGS,
  ).action(async (model: string, flags: ExportFlags) => {
    const config = redisConfigFrom(ctx, flags, EXPORT_FLAGS);
    const { createClient } = await importSdk();
    const client = await createClient({
      ...clientRedisOf(config),
      prefix: config.REDIS_KEY_PREFIX,
    });
    const path = resolve(ctx.io.cwd, flags.out);
    try {
      const query: PredictionLogQuery = {
        ...(flags.since !== undefined && { since: flags.since }),
        ...(flags.until !== undefined && { until: flags.until }),
        ...(flags.version !== undefined && { version: flags.version }),
        ...(flags.limit !== undefined && { limit: flags.limit }),
      };
      const entries: AsyncIterable<LoggedPrediction> = client.predictionLog(model, query);
      const out = await openOut(path);
      const format = formatOf(flags.out, flags.format);
      const writer =
        format === 'arrow'
          ? (await importArrowWriter()).createArrowWriter(out)
          : createNdjsonWriter(out);
      const total = flags.limit ?? (await client.predictionLogSize(model)).entries;
      const progress = exportProgress(
        ctx.io.stderr,
        total,
        flags.quiet === true || flags.json === true,
      );
      let written = 0;
      for await (const entry of entries) {
        await writer.write(entry);
        written += 1;
        progress.tick(written);
      }
      await writer.close();
      if (format === 'ndjson') {
        const closed = once(out, 'close');
        out.end();
        await closed;
      }
      progress.stop(written);
      if (flags.json)
        line(ctx.io.stdout, JSON.stringify({ model, out: path, format, predictions: written }));
      ctx.exitCode = EXIT.OK;
    } finally {
      await client.close();
    }
  });
}
