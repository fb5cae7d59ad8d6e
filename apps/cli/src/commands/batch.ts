import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Option, type Command } from 'commander';
import { ConveyorError, configTarget } from '@conveyor/shared';
import { countRows, formatOfPath, type InputFormat } from '../batch/input-reader.js';
import { createProgress } from '../batch/progress.js';
import { watchQueue } from '../batch/queue-watch.js';
import { runBatch } from '../batch/run-batch.js';
import { addConfigFlags, redisConfigFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { fileError } from '../inputs.js';
import { line } from '../io.js';
import { openClient } from '../open-client.js';
import { positiveInt } from './predict.js';

/** How long the end of a run waits for the client to close (Redis may be gone). */
const CLOSE_WAIT_MS = 3_000;

const BATCH_FLAGS: readonly ConfigFlag[] = [
  'redisUrl',
  'prefix',
  'repository',
  'threads',
  'timeout',
];

interface BatchFlags {
  out: string;
  failed?: string;
  format?: InputFormat;
  version?: string;
  embedded?: boolean;
  concurrency: number;
  /** false with --no-pack. */
  pack: boolean;
  quiet?: boolean;
  json?: boolean;
  memorySamples?: string;
}

/** `results.jsonl` → `results.failed.jsonl`. */
export function defaultFailedPath(out: string): string {
  return out.endsWith('.jsonl')
    ? `${out.slice(0, -'.jsonl'.length)}.failed.jsonl`
    : `${out}.failed.jsonl`;
}

/** `conveyor batch <model> <input>`: offline predictions over a file of any size, resumable. */
export function registerBatch(program: Command, ctx: CliContext): void {
  const command = program
    .command('batch')
    .description('predict every row of a JSON-lines or CSV file; resumable, streamed, any size')
    .argument('<model>', 'model name')
    .argument(
      '<input>',
      'input file: .jsonl (one inputs object, or array for a one-input model, per line) or .csv (header row of feature names)',
    )
    .requiredOption('--out <file>', 'results, one JSON line per row: {"line": n, "outputs": {...}}')
    .option(
      '--failed <file>',
      'failed rows, one JSON line each: {"line": n, "code", "message"} (default: --out with .jsonl replaced by .failed.jsonl)',
    )
    .addOption(
      new Option('--format <format>', 'input format (default from the file name)').choices([
        'jsonl',
        'csv',
      ]),
    )
    .option(
      '--version <version>',
      'model version or alias (default: the production alias, else the newest)',
    )
    .option('--embedded', 'run onnxruntime in this process instead of through the queue')
    .option(
      '-c, --concurrency <n>',
      'jobs in flight at most (at most 8 while rows are packed)',
      positiveInt,
      128,
    )
    .option('--no-pack', 'one job per row, instead of packing many rows into each job')
    .option('-q, --quiet', 'no progress on stderr')
    .option('--json', 'print the summary (and errors) as JSON')
    .addOption(
      new Option(
        '--memory-samples <file>',
        'append heap samples every 10,000 rows (diagnostics)',
      ).hideHelp(),
    );
  addConfigFlags(command, BATCH_FLAGS);
  command.addHelpText(
    'after',
    `
Rows are packed into jobs of many rows (64 at first, then sized toward 50 ms of inference
each, up to 4,096), so the queue's cost per job is shared by the rows; each row still gets its
own output line, or its own line in --failed when only it is bad. A model whose first dimension
is not free gets one job per row. Each output line carries its row's line number in the input. Re-running the same command after an
interruption (Ctrl-C, a kill, a crash) skips the rows already in --out or --failed and does the
rest, so every row ends up exactly once in one of the two files. Progress goes to stderr: a bar on
a terminal, a line every 2 s otherwise.

Exit codes: 0 every row succeeded; 3 some rows failed (see --failed); 130 interrupted (re-run to
resume); 2 bad arguments or unreadable input; 4 Redis did not answer.

Examples:
  conveyor batch iris flowers.csv --out predictions.jsonl --embedded
  conveyor batch iris flowers.jsonl --out predictions.jsonl --failed bad-rows.jsonl --concurrency 512
  conveyor batch text-direction lines.jsonl --out directions.jsonl --redis-url redis://10.0.0.5:6379`,
  );
  command.action(async (model: string, input: string, flags: BatchFlags) => {
    const { io } = ctx;
    const config = redisConfigFrom(ctx, flags, BATCH_FLAGS);
    const inputPath = resolve(io.cwd, input);
    const out = resolve(io.cwd, flags.out);
    const failed = resolve(io.cwd, flags.failed ?? defaultFailedPath(flags.out));
    const format = flags.format ?? formatOfPath(input);
    if (format === undefined)
      throw new ConveyorError(
        'ERR_USAGE',
        `cannot tell the format of ${input} from its name; pass --format jsonl or --format csv`,
      );
    if (new Set([inputPath, out, failed]).size !== 3)
      throw new ConveyorError(
        'ERR_USAGE',
        'the input, --out and --failed must be three different files',
      );
    const info = await stat(inputPath).catch((cause: unknown) => {
      throw fileError(input, 'input file', cause);
    });
    if (!info.isFile())
      throw new ConveyorError('ERR_FILE_UNREADABLE', `input file ${input} is not a file`);

    const total = await countRows(inputPath, format);
    const cli = await openClient(config, {
      embedded: flags.embedded === true,
      model,
      concurrency: flags.concurrency,
      keepNothing: true,
    });
    const queue = cli.mode === 'queue' ? watchQueue(configTarget(config)) : undefined;
    const abort = new AbortController();
    let signals = 0;
    const onSignal = () => {
      signals += 1;
      // A second Ctrl-C does not wait for the rows in flight; the next run redoes them.
      if (signals > 1) process.exit(EXIT.INTERRUPTED);
      abort.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const summary = await runBatch(
        cli,
        {
          model,
          version: flags.version,
          input: inputPath,
          format,
          out,
          failed,
          concurrency: flags.concurrency,
          pack: flags.pack ? 'auto' : false,
          memorySamples: flags.memorySamples,
          signal: abort.signal,
          queue,
        },
        createProgress({ stream: io.stderr, total, quiet: flags.quiet === true }),
      );
      const failedRows = summary.failed + summary.failedEarlier;
      if (flags.json) {
        line(io.stdout, JSON.stringify({ model, out, failedFile: failed, ...summary, failedRows }));
      } else {
        line(
          io.stdout,
          `batch ${model}: ${summary.succeeded} succeeded, ${summary.failed} failed, ${summary.skipped} already done, in ${summary.seconds.toFixed(1)} s${summary.interrupted ? ' (interrupted: run the same command again to resume)' : ''}`,
        );
        if (failedRows > 0) line(io.stdout, `${failedRows} failed rows in ${failed}`);
      }
      ctx.exitCode = summary.interrupted
        ? EXIT.INTERRUPTED
        : failedRows > 0
          ? EXIT.PARTIAL
          : EXIT.OK;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      queue?.close();
      // Without Redis, closing the client could wait on a connection that never comes back.
      if (queue === undefined) await cli.close();
      else await Promise.race([cli.close(), sleep(CLOSE_WAIT_MS, undefined, { ref: false })]);
    }
  });
}
