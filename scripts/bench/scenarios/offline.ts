/**
 * Scenario 10, offline: `conveyor batch` over a CSV of iris rows (JSON lines out) through the
 * queue with one worker process, against scripts/bench/offline-inprocess.ts reading the same CSV,
 * predicting in batches of 64 with onnxruntime-node and writing the same lines. The CLI is
 * stopped at a time limit, and then its rate counts the rows it wrote. A second CLI run, over
 * MEMORY_RUN_TIMES as many rows, measures whether its memory stays flat.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelPathOf } from '../workloads.js';
import type { BenchContext } from '../context.js';
import { BUILT, round, say } from '../lib.js';
import { runMeasured, type MeasuredRun } from '../measured-process.js';
import type { BenchResults, OfflineCliSide, OfflineSide } from '../results.js';

/** Writes a header and `rows` rows of four measurements, varied so no two rows in a row match. */
async function writeCsv(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  out.write('sepal_length,sepal_width,petal_length,petal_width\n');
  let text = '';
  for (let i = 0; i < rows; i++) {
    const k = i % 1000;
    text += `${(4.3 + (k % 36) / 10).toFixed(1)},${(2 + (k % 24) / 10).toFixed(1)},${(1 + (k % 59) / 10).toFixed(1)},${(0.1 + (k % 25) / 10).toFixed(1)}\n`;
    if (text.length > 1 << 16) {
      if (!out.write(text)) await once(out, 'drain');
      text = '';
    }
  }
  out.end(text);
  await once(out, 'finish');
}

async function countLines(path: string): Promise<number> {
  let lines = 0;
  try {
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines += 1;
    }
  } catch {
    return 0;
  }
  return lines;
}

const peak = (values: readonly number[]) =>
  round(values.length > 0 ? Math.max(...values) : Number.NaN, 1);

function side(run: MeasuredRun, rows: number): OfflineSide {
  return {
    rows,
    seconds: round(run.seconds, 2),
    rowsPerSecond: round(rows / run.seconds, 0),
    peakRssMiB: peak(run.rssMiB),
    exitCode: run.exitCode,
  };
}

/**
 * The memory run's rows, in times the measured run's: long enough that its second quarter is past
 * the climb of RSS after start-up (about 2 s, while the heap's pages are first touched), so that
 * the last quarter against the second shows whether memory grows with the rows.
 */
const MEMORY_RUN_TIMES = 4;

/** `conveyor batch` over `csv` with one worker process, its RSS sampled as it goes. */
async function runCli(
  ctx: BenchContext,
  csv: string,
  out: string,
  timeLimitS: number,
): Promise<OfflineCliSide> {
  const prefix = ctx.prefixFor('offline');
  const worker = await ctx.worker(prefix, ['iris']);
  let cli: MeasuredRun;
  try {
    cli = await runMeasured(
      [
        BUILT.cli,
        'batch',
        'iris',
        csv,
        '--out',
        out,
        '--quiet',
        '--redis-url',
        ctx.redis.url,
        '--prefix',
        prefix,
      ],
      {},
      timeLimitS,
    );
  } finally {
    await ctx.stop(worker);
  }
  const written = await countLines(out);
  if (written === 0)
    throw new Error(`conveyor batch wrote no row in ${round(cli.seconds, 0)} s: ${cli.stderr}`);
  if (cli.finished && cli.exitCode !== 0)
    throw new Error(`conveyor batch exited ${cli.exitCode}: ${cli.stderr}`);
  const quarter = Math.floor(cli.rssMiB.length / 4);
  return {
    ...side(cli, written),
    finished: cli.finished,
    earlyPeakRssMiB: peak(cli.rssMiB.slice(quarter, 2 * quarter)),
    latePeakRssMiB: peak(cli.rssMiB.slice(3 * quarter)),
  };
}

export async function runOffline(ctx: BenchContext, results: BenchResults): Promise<void> {
  const rows = ctx.counts.offlineRows;
  const timeLimitS = ctx.counts.offlineTimeLimitS;
  say(
    `\n10. offline: conveyor batch over ${rows} iris CSV rows vs an in-process script (batches of 64)`,
  );
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-bench-offline-'));
  try {
    const csv = join(dir, 'iris.csv');
    await writeCsv(csv, rows);

    const inProcessOut = join(dir, 'in-process.jsonl');
    const inProcess = await runMeasured(
      ['scripts/bench/offline-inprocess.ts', modelPathOf('iris'), csv, inProcessOut],
      {},
      timeLimitS,
    );
    if (inProcess.exitCode !== 0) throw new Error(`offline-inprocess failed: ${inProcess.stderr}`);
    const inProcessSide = side(inProcess, await countLines(inProcessOut));
    say(`   in-process: ${JSON.stringify(inProcessSide)}`);

    const cli = await runCli(ctx, csv, join(dir, 'cli.jsonl'), timeLimitS);
    results.offline = { rows, timeLimitS, inProcess: inProcessSide, cli };
    say(`   conveyor batch: ${JSON.stringify(cli)}`);

    const memoryCsv = join(dir, 'iris-memory.csv');
    const memoryRows = rows * MEMORY_RUN_TIMES;
    await writeCsv(memoryCsv, memoryRows);
    const memory = await runCli(ctx, memoryCsv, join(dir, 'memory.jsonl'), timeLimitS);
    results.offline.memory = memory;
    say(`   conveyor batch, memory run over ${memoryRows} rows: ${JSON.stringify(memory)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
