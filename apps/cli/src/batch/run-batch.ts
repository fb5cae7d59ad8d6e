import { once } from 'node:events';
import { appendFileSync, type WriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { PredictInputs, PredictManyResult } from '@conveyor/sdk';
import type { ConveyorError } from '@conveyor/shared';
import { fileError } from '../inputs.js';
import type { CliClient } from '../open-client.js';
import { readWork, type InputFormat, type WorkItem } from './input-reader.js';
import type { Progress } from './progress.js';
import type { QueueWatch } from './queue-watch.js';
import { limitHeapGrowth } from './heap-growth.js';
import { LineWriter } from './line-writer.js';
import { readDoneRows } from './resume.js';
import { createSettle } from './settle-result.js';

/** Heap is sampled every this many rows when memory samples are asked for. */
export const MEMORY_SAMPLE_EVERY = 10_000;

export interface BatchOptions {
  model: string;
  version?: string | undefined;
  input: string;
  format: InputFormat;
  out: string;
  failed: string;
  /** Jobs in flight at most (see predictMany: at most 8 when rows are packed). */
  concurrency: number;
  /** Pack many rows into one job (predictMany's `pack`); default 'auto'. */
  pack?: boolean | 'auto' | undefined;
  /**
   * Appends a `{ rows, heapUsed, rss }` JSON line here as the count passes each multiple of
   * MEMORY_SAMPLE_EVERY.
   */
  memorySamples?: string | undefined;
  /** Aborting stops reading; rows in flight finish and are written. */
  signal: AbortSignal;
  /** Through the queue: Redis going away stops the run (see QueueWatch). */
  queue?: Pick<QueueWatch, 'lost' | 'check'> | undefined;
}

/** What a batch run did. */
export interface BatchSummary {
  /** Rows that succeeded this run. */
  succeeded: number;
  /** Rows that failed this run. */
  failed: number;
  /** Rows skipped because --out or --failed already had them. */
  skipped: number;
  /** Rows the --failed file holds from earlier runs. */
  failedEarlier: number;
  /** True when the run was interrupted before the end of the input. */
  interrupted: boolean;
  seconds: number;
}

/** Opens a file for appending, so that a path that cannot be written fails before any work. */
async function openAppend(path: string, what: string): Promise<FileHandle> {
  try {
    return await open(path, 'a');
  } catch (cause) {
    throw fileError(path, what, cause);
  }
}

async function close(stream: WriteStream): Promise<void> {
  const closed = once(stream, 'close');
  stream.end();
  await closed;
}

/** Waits while a stream's buffer is full: results are not taken faster than the disk takes them. */
async function drained(stream: WriteStream): Promise<void> {
  if (stream.writableNeedDrain) await once(stream, 'drain');
}

/**
 * Runs a batch: streams the input's rows, skips rows an earlier run finished (in --out or
 * --failed), runs the rest through the client's predictMany (at most `concurrency` jobs in flight,
 * many rows packed into each), and appends each row's result or failure as it arrives, one JSON
 * line each carrying its input line number. A CSV of numbers is read in blocks of rows, each one
 * tensor (see csv-blocks.ts); a block that fails for its data runs again row by row, so only its
 * bad rows fail. A row is written once, when its own result arrives, whether or not it shared a
 * job: a run killed mid-way leaves rows of a pack either written or not, and a re-run does exactly
 * the rows not written. Memory stays flat however large the file: a window of rows, the results not
 * yet flushed, one bit per done row, and old-generation garbage collected early (heap-growth.ts).
 * Redis going away mid-run stops the run with ERR_QUEUE_UNAVAILABLE, noticed by `options.queue`
 * even while every row in flight is still waiting; the rows in flight are not written (neither to
 * --out nor to --failed), so a re-run does them. A row that fails while Redis does not answer stops
 * the run the same way.
 */
export async function runBatch(
  cli: CliClient,
  options: BatchOptions,
  progress: Progress,
): Promise<BatchSummary> {
  const started = Date.now();
  limitHeapGrowth();
  const signature = await cli.signature(options.model, options.version);
  const doneOut = await readDoneRows(options.out, 'output file');
  const doneFailed = await readDoneRows(options.failed, 'failed-rows file');
  const out = new LineWriter(await openAppend(options.out, 'output file'));
  // The stream closes the handle when it ends.
  const failedFile = (await openAppend(options.failed, 'failed-rows file')).createWriteStream();

  const summary: BatchSummary = {
    succeeded: 0,
    failed: 0,
    skipped: 0,
    failedEarlier: doneFailed.lines.size,
    interrupted: false,
    seconds: 0,
  };
  const counts = () => {
    const thisRun = summary.succeeded + summary.failed;
    return { processed: thisRun + summary.skipped, failed: summary.failed, thisRun };
  };
  let nextSample = MEMORY_SAMPLE_EVERY;
  const counted = () => {
    const c = counts();
    progress.update(c);
    if (options.memorySamples !== undefined && c.thisRun >= nextSample) {
      nextSample = (Math.floor(c.thisRun / MEMORY_SAMPLE_EVERY) + 1) * MEMORY_SAMPLE_EVERY;
      // With --expose-gc the sample measures live memory, not garbage not yet collected.
      (globalThis as { gc?: () => void }).gc?.();
      const { heapUsed, rss } = process.memoryUsage();
      appendFileSync(
        options.memorySamples,
        `${JSON.stringify({ rows: c.thisRun, heapUsed, rss })}\n`,
      );
    }
  };
  const fail = (line: number, error: ConveyorError) => {
    failedFile.write(`${JSON.stringify({ line, code: error.code, message: error.message })}\n`);
    summary.failed += 1;
    counted();
  };
  const succeeded = (rows: number) => {
    summary.succeeded += rows;
    counted();
  };
  const skip = (line: number) => {
    if (!doneOut.lines.has(line) && !doneFailed.lines.has(line)) return false;
    summary.skipped += 1;
    return true;
  };

  // predictMany numbers the items it is given; this maps those numbers back to their rows (only
  // for items in flight, so it stays small).
  const work = new Map<number, WorkItem>();
  let index = 0;
  async function* items(): AsyncGenerator<PredictInputs> {
    const source = readWork(options.input, options.format, signature, {
      blocks: options.pack !== false,
      skip,
    });
    for await (const item of source) {
      if (options.signal.aborted) {
        summary.interrupted = true;
        return;
      }
      if ('error' in item) {
        fail(item.line, item.error);
        await drained(failedFile);
        continue;
      }
      work.set(index, item);
      index += 1;
      yield item.inputs as PredictInputs;
    }
  }
  const predictOptions = {
    concurrency: options.concurrency,
    pack: options.pack ?? 'auto',
    ...(options.version !== undefined && { version: options.version }),
  };

  const settle = createSettle({
    fail,
    write: (line) => out.add(line),
    succeeded,
    check: () => options.queue?.check() ?? Promise.resolve(undefined),
    alone: (rows) => cli.client.predictMany(options.model, rows as PredictInputs[], predictOptions),
  });

  let fatal: ConveyorError | undefined;
  // Set once the queue watch reports Redis gone; wakes the wait for the next result.
  let lost: ConveyorError | undefined;
  let wake: ((error: ConveyorError) => void) | undefined;
  void options.queue?.lost.then((error) => {
    lost = error;
    wake?.(error);
  });
  const results = cli.client.predictMany(options.model, items(), predictOptions);
  const iterator = results[Symbol.asyncIterator]();
  type Next = IteratorResult<PredictManyResult> | { lost: ConveyorError };
  const next = () =>
    new Promise<Next>((resolve, reject) => {
      if (lost !== undefined) return resolve({ lost });
      wake = (error) => resolve({ lost: error });
      iterator.next().then(resolve, reject);
    });
  try {
    for (;;) {
      const step = await next();
      if ('lost' in step) {
        fatal = step.lost;
        break;
      }
      if (step.done === true) break;
      const result = step.value;
      const item = work.get(result.index);
      work.delete(result.index);
      if (item === undefined) continue;
      fatal = await settle(item, result);
      if (fatal !== undefined) break;
      if (out.full) await out.flush();
      await drained(failedFile);
    }
    // The waits in flight may never end without Redis: stop reading without waiting for them.
    if (fatal !== undefined) void iterator.return?.(undefined).catch(() => undefined);
  } finally {
    await Promise.allSettled([out.close(), close(failedFile)]);
    summary.seconds = (Date.now() - started) / 1000;
    progress.stop(counts());
  }
  if (fatal !== undefined) throw fatal;
  return summary;
}
