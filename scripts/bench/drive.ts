/** Drives one-row jobs through the SDK in bulk with a sliding window and waits for every result. */
import type { ConveyorClient } from '@conveyor/sdk';
import { chunks, timed } from './lib.js';
import { oneRowInputs, type Workload } from './workloads.js';

/** Iris jobs waited on at once, in every bulk scenario (plain BullMQ's too). */
export const WINDOW = 2000;

/**
 * Image jobs waited on at once: 256 of 110 KB keep a worker fed (a third of a second of its work)
 * while Redis holds 28 MB of inputs. With 2,000 (220 MB) Redis faulted in fresh memory for most
 * of each short run (20 minor page faults per job), a third of its CPU per job.
 */
export const IMAGE_WINDOW = 256;

/**
 * Jobs run before a measured drive, not measured: three times as many as it runs. The in-process
 * limit (scenario 1) is measured warm, after a first call at each batch size; a fresh worker's
 * first jobs go to compiling its JavaScript and learning its batch sizes, and a cold start is
 * scenario 13's measure. V8 goes on optimizing a worker's functions for tens of thousands of small
 * jobs (`--trace-opt`): 136 optimizations in the 20,000 iris jobs after the first 4,000, 12 in the
 * 20,000 after the first 64,000. An image worker runs its code once per batch of about 30 rows:
 * after a fifth as many images as measured (the warm-up this had), V8's compiler threads still
 * took 171 µs of CPU per job in the 3,000 measured (perf, all threads; onnxruntime 1,367); after
 * as many as measured 49, after 2.2 times as many 24.
 */
export const warmUpJobs = (jobs: number): number => jobs * 3;

/** Runs `warmUpJobs(jobs)` jobs of `workload` through `model`, unmeasured. */
export async function warmUp(
  client: ConveyorClient,
  model: string,
  workload: Workload,
  jobs: number,
): Promise<void> {
  await driveEndToEnd(client, model, workload, warmUpJobs(jobs));
}

export interface DriveResult {
  jobsPerSecond: number;
  failed: number;
  meanBatchRows: number;
  /** onnxruntime's own ms per job: each job's share of its call (`runMs / batchRows`), averaged. */
  runMsPerJob: number;
  /** Rows per onnxruntime call, over calls (meanBatchRows is over jobs, which weighs big calls more). */
  rowsPerCall: number;
}

/** Sends `jobs` one-row jobs of `workload` to `model` and waits for every result. */
export async function driveEndToEnd(
  client: ConveyorClient,
  model: string,
  workload: Workload,
  jobs: number,
  window = workload === 'iris' ? WINDOW : IMAGE_WINDOW,
): Promise<DriveResult> {
  const item = { inputs: oneRowInputs(workload) };
  let failed = 0;
  let firstError: unknown;
  let batchRows = 0;
  let runMs = 0;
  let calls = 0;
  const { ms } = await timed(async () => {
    // At most `window` jobs waited on at once keeps the driver's memory bounded, and enqueueing
    // goes on while results come back, so the worker never waits for the driver. A count, as in
    // scenario 8: a Promise.race over the jobs in flight attached a reaction to each of them per
    // race (about 40 per job), driver CPU that is no part of Conveyor.
    const slots = slotCounter(window);
    for (const part of chunks(
      Array.from({ length: jobs }),
      Math.min(250, Math.floor(window / 4)),
    )) {
      await slots.take(part.length);
      const handles = await client.enqueueMany(
        model,
        part.map(() => item),
      );
      for (const handle of handles)
        void handle.result({ timeoutMs: 120_000 }).then(
          (prediction) => {
            const timings = prediction.timings as { batchRows?: number; runMs?: number };
            const rows = timings.batchRows ?? 1;
            batchRows += rows;
            runMs += (timings.runMs ?? 0) / rows;
            calls += 1 / rows;
            slots.give();
          },
          (error: unknown) => {
            failed += 1;
            firstError ??= error;
            slots.give();
          },
        );
    }
    await slots.take(window);
  });
  // A rate of failures is no measure: the scenario fails instead of reporting it.
  if (failed > 0)
    throw new Error(
      `${failed} of ${jobs} ${model} jobs failed, the first with: ${firstError instanceof Error ? firstError.message : String(firstError)}`,
    );
  return {
    jobsPerSecond: (jobs / ms) * 1000,
    failed,
    meanBatchRows: batchRows / Math.max(1, jobs - failed),
    runMsPerJob: runMs / Math.max(1, jobs - failed),
    rowsPerCall: (jobs - failed) / Math.max(1e-9, calls),
  };
}

/** A count of free places in the window: `take(n)` waits until n are free, `give()` frees one. */
function slotCounter(size: number) {
  let free = size;
  let wanted = 0;
  let wake: (() => void) | undefined;
  return {
    take(n: number): Promise<void> {
      if (free >= n) {
        free -= n;
        return Promise.resolve();
      }
      wanted = n;
      return new Promise<void>((resolve) => {
        wake = () => {
          free -= n;
          wake = undefined;
          resolve();
        };
      });
    },
    give() {
      free += 1;
      if (wake && free >= wanted) wake();
    },
  };
}
