import {
  ConveyorError,
  toConveyorError,
  type BatchingConfig,
  type Logger,
  type Tensor,
} from '@conveyor/shared';
import {
  deliverPiece,
  failPiece,
  pieceInputs,
  type BatchRequest,
  type BatchedResult,
  type Piece,
  type RunResult,
} from './batch-request.js';
import { concatRows, groupKey, rowsOf, sliceRows, viewRows } from './batch-rows.js';
import { createBatchSizer, type BatchSizerStats } from './batch-sizer.js';
import type { StagingBuffers } from './staging-buffers.js';

/** Default `handoffMs`: how long, by the sizer's measure, one hand-off of a large request may run. */
const HANDOFF_MS = 20;

export type { BatchedResult, RunResult } from './batch-request.js';

/**
 * Runs inputs on an inference thread; `transfer` moves the inputs' buffers there. `pieces`: the
 * rows of each request joined in the call, in order (absent for one request), so that a
 * processed version preprocesses each request alone. `chunkRows` (only when the batcher is
 * `chunkable`): run the inputs as consecutive calls of at most that many rows, join their outputs
 * along the first dimension, and report the calls' summed ms and their number.
 */
export type RunFn = (
  inputs: Record<string, Tensor>,
  outputs: string[],
  transfer: boolean,
  pieces?: number[],
  chunkRows?: number,
) => Promise<RunResult>;

/** How a model version's batcher runs: model.json `batching`, its threads and its runner. */
export interface BatcherOptions extends BatchingConfig {
  /** Calls allowed to run at once: the model's inference threads. */
  slots: number;
  /**
   * Hand-offs that may wait at busy threads besides the running ones (default 0), each a full
   * call: a thread then starts its next call as soon as it ends one, instead of idling until this
   * event loop has taken the reply and sent more. `run` must queue them at the threads.
   */
  queued?: number;
  /** Whether every input and output has a free first dimension. */
  batchable: boolean;
  run: RunFn;
  /**
   * Whether `run` takes `chunkRows`: then one hand-off may carry several calls' worth of a large
   * request's rows (false for versions with processing steps, which see each request whole).
   */
  chunkable?: boolean;
  /** Most ms of calls, by their measured mean, one such hand-off carries. Default 20. */
  handoffMs?: number;
  /**
   * Where calls' inputs are copied (buffers `run` gives back; see staging-buffers.ts); without it
   * joined calls copy into new buffers and a request running alone moves its own.
   */
  staging?: StagingBuffers | undefined;
  log: Logger;
  /** The clock arrivals and deadlines are read on, in ms. Default `performance.now`. */
  now?: () => number;
  /**
   * With no batching window (`maxDelayMs` 0): a request that finds nothing of the version running
   * or waiting, and is not serial traffic, is taken at the end of this event-loop turn instead of
   * at once, so that the requests arriving in the same turn share its call. A worker's completed
   * batch fetches its next jobs together; taken at once, the first of them ran alone (a third of
   * a worker's iris calls were of one row). Default false.
   */
  gatherTurn?: boolean;
}

/** Per request options of `submit`. */
export interface SubmitOptions {
  /** Milliseconds until the request's deadline; joined calls are kept short enough to meet it. */
  budgetMs?: number | undefined;
}

/** A model version's queue of requests, dispatched to its threads in batches. */
export interface Batcher {
  submit(
    inputs: Record<string, Tensor>,
    outputs: string[],
    transfer: boolean,
    options?: SubmitOptions,
  ): Promise<BatchedResult>;
  /** Requests waiting for a free thread. */
  readonly pending: number;
  /** The batch size learned so far, and rows per second and calls measured per size. */
  stats(): BatcherStats;
}

/** What a batcher learned, and how many hand-offs to its threads and onnxruntime calls it made. */
export interface BatcherStats extends BatchSizerStats {
  /** Runs handed to the version's threads (or its calling-thread session), failed ones included. */
  handoffs: number;
  /** onnxruntime calls those runs made, as far as they succeeded. */
  runs: number;
}

/** Throws unless every output has `rows` rows along its first dimension. */
function checkRows(outputs: Record<string, Tensor>, rows: number): void {
  for (const [name, tensor] of Object.entries(outputs)) {
    if (rowsOf(tensor) !== rows || tensor.shape.length === 0) {
      throw new ConveyorError(
        'ERR_INFERENCE_FAILED',
        `output "${name}" has shape [${tensor.shape.join(', ')}] for a batch of ${rows} rows`,
      );
    }
  }
}

/**
 * Largest joined output, in bytes, whose requests get views of it rather than copies. A call's
 * outputs are its own (new buffers, never reused), so a view is safe; it keeps the whole call's
 * output alive while any request's result is, which a copy would not, so only small ones are
 * viewed. For a small model a copy per request, and the ArrayBuffer its encoding then made of it,
 * cost about 2 µs a job.
 */
const VIEW_MAX_BYTES = 64 * 1024;

/** How a joined call's outputs are split among its requests: views when small, else copies. */
function splitterOf(outputs: Record<string, Tensor>): typeof sliceRows {
  let bytes = 0;
  for (const name in outputs) {
    const { data } = outputs[name] as Tensor;
    bytes += ArrayBuffer.isView(data) ? data.byteLength : Number.POSITIVE_INFINITY;
  }
  return bytes <= VIEW_MAX_BYTES ? viewRows : sliceRows;
}

/** The group whose first request has waited longest goes next. */
function oldestGroup(groups: Map<string, BatchRequest[]>): [string, BatchRequest[]] | undefined {
  let oldest: [string, BatchRequest[]] | undefined;
  for (const entry of groups) {
    const head = entry[1][0] as BatchRequest;
    if (!oldest || head.queuedAt < (oldest[1][0] as BatchRequest).queuedAt) oldest = entry;
  }
  return oldest;
}

/**
 * Dynamic batching for one model version. A request runs at once when one of the version's
 * threads is free (after waiting at most `maxDelayMs` for others to join it, unless it and the
 * request before it each found nothing else of the version running or waiting: serial traffic;
 * with `gatherTurn` and no window, one that found nothing running or waiting, unless serial, runs
 * at the end of its event-loop turn); requests that arrive while every thread is busy wait and
 * then run together as one onnxruntime call along the first dimension, up to the size a batch
 * sizer has found to give the most rows per second (at most `maxBatchSize`; see batch-sizer.ts).
 * A request with more rows than that is split into calls of that size, and its outputs joined
 * back; while it is alone, one hand-off to a thread carries several of its calls (about
 * `handoffMs` of them), run there one after another. Each request still gets its own outputs,
 * and its own error: when a joined call fails, its requests run again one by one so that only the
 * bad one fails.
 */
export function createBatcher(options: BatcherOptions): Batcher {
  const { slots, run, log } = options;
  const queued = options.queued ?? 0;
  const now = options.now ?? (() => performance.now());
  const maxRows = options.batchable ? options.maxBatchSize : 1;
  const sizer = createBatchSizer({
    maxBatchSize: maxRows,
    adaptive: options.adaptive && maxRows > 1,
  });
  const groups = new Map<string, BatchRequest[]>();
  let busy = 0;
  let waiting = 0;
  let timer: NodeJS.Timeout | undefined;
  /** Set while requests gather for a take at the end of this turn (see `gatherTurn`). */
  let gather: NodeJS.Immediate | undefined;
  let aloneCounter = 0;
  /** Whether the latest request found nothing of the version running or waiting. */
  let lastFoundIdle = false;
  let handoffs = 0;
  let runs = 0;

  const runAlone = async (piece: Piece): Promise<void> => {
    try {
      const { inputs, transfer } = pieceInputs(piece, options.staging?.take);
      const { chunkRows } = piece;
      handoffs += 1;
      const result = await run(inputs, piece.request.outputs, transfer, undefined, chunkRows);
      const calls = result.calls ?? 1;
      runs += calls;
      if (piece.rows !== piece.request.rows || chunkRows) checkRows(result.outputs, piece.rows);
      // Chunks are recorded as the calls they were: of `chunkRows` rows, at their mean.
      if (piece.request.joinable) sizer.record(chunkRows ?? piece.rows, result.ms / calls);
      deliverPiece(piece, {
        outputs: result.outputs,
        ms: result.ms,
        batchRows: chunkRows ?? piece.rows,
        batchRequests: 1,
      });
    } catch (error) {
      failPiece(piece, error);
    }
  };

  const runJoined = async (batch: Piece[]): Promise<void> => {
    const first = (batch[0] as Piece).request;
    const total = batch.reduce((n, p) => n + p.rows, 0);
    let result: RunResult;
    try {
      const parts = batch.map((p) => pieceInputs(p).inputs);
      const inputs: Record<string, Tensor> = {};
      for (const name of Object.keys(first.inputs))
        inputs[name] = concatRows(
          parts.map((p) => p[name] as Tensor),
          options.staging?.take,
        );
      handoffs += 1;
      result = await run(
        inputs,
        first.outputs,
        true,
        batch.map((p) => p.rows),
      );
      runs += result.calls ?? 1;
      checkRows(result.outputs, total);
      // The run's own time on its thread: the wall time here also holds whatever else the event
      // loop did meanwhile, which has nothing to do with the size of the call.
      sizer.record(total, result.ms);
    } catch (error) {
      // One request may be the cause: run each alone so that only a bad one fails.
      log.warn(
        { code: toConveyorError(error).code, requests: batch.length, rows: total },
        'batched run failed; running its requests one by one',
      );
      for (const p of batch) await runAlone(p);
      return;
    }
    let offset = 0;
    const split = splitterOf(result.outputs);
    for (const p of batch) {
      const outputs: Record<string, Tensor> = {};
      for (const [name, tensor] of Object.entries(result.outputs))
        outputs[name] = split(tensor, offset, p.rows);
      offset += p.rows;
      deliverPiece(p, { outputs, ms: result.ms, batchRows: total, batchRequests: batch.length });
    }
  };

  /**
   * Rows waiting in a group (counted up to just past the cap: no limit is larger), and the time
   * left to the tightest deadline among the rows the next call could take.
   */
  const backlog = (queue: readonly BatchRequest[]): { rows: number; budgetMs: number } => {
    let rows = 0;
    let deadline = Number.POSITIVE_INFINITY;
    for (const r of queue) {
      if (rows > maxRows) break;
      if (rows < maxRows) deadline = Math.min(deadline, r.deadlineAt);
      rows += r.rows - r.taken;
    }
    return { rows, budgetMs: deadline - now() };
  };

  /**
   * Calls of `limit` rows a large request's next hand-off carries: several only while nothing
   * else of the version waits, and as many as the measured mean call of that size fits in
   * `handoffMs` (one until it is measured), so that a request arriving meanwhile waits no longer.
   */
  const chunksFor = (limit: number, left: number): number => {
    if (!options.chunkable || waiting > 1) return 1;
    const ms = sizer.meanMs(limit);
    if (ms === undefined) return 1;
    const fit = Math.max(1, Math.floor((options.handoffMs ?? HANDOFF_MS) / ms));
    return Math.min(fit, Math.floor(left / limit));
  };

  /**
   * Takes the next call's pieces from the group waiting longest: whole requests in order while
   * they fit the size limit, and slices of a request that could never fit whole (several calls'
   * worth in one hand-off when it is alone; see chunksFor). A request that cannot be split (its
   * inputs disagree on their first dimension) runs whole, alone.
   */
  const take = (): Piece[] => {
    const oldest = oldestGroup(groups);
    if (!oldest) return [];
    const [key, queue] = oldest;
    const { rows: queued, budgetMs } = backlog(queue);
    const limit = (queue[0] as BatchRequest).joinable ? sizer.limit(queued, budgetMs) : maxRows;
    const batch: Piece[] = [];
    let rows = 0;
    while (queue.length > 0) {
      const request = queue[0] as BatchRequest;
      const left = request.rows - request.taken;
      const room = limit - rows;
      if (request.settled || left <= room || (!request.joinable && batch.length === 0)) {
        queue.shift();
        waiting -= 1;
        if (request.settled) continue;
        batch.push({ request, from: request.taken, rows: left });
        request.taken = request.rows;
        rows += left;
        continue;
      }
      if (request.joinable && left > limit && room > 0) {
        const chunks = batch.length === 0 ? chunksFor(limit, left) : 1;
        const slice = chunks > 1 ? chunks * limit : room;
        batch.push({
          request,
          from: request.taken,
          rows: slice,
          ...(chunks > 1 && { chunkRows: limit }),
        });
        request.taken += slice;
        if (request.taken === request.rows) {
          queue.shift();
          waiting -= 1;
        } else {
          // Back in line behind what waits now: a large request takes turns with the requests
          // after it (of its model version, whatever their shape) instead of holding every thread.
          request.queuedAt = now();
          queue.push(queue.shift() as BatchRequest);
        }
      }
      break;
    }
    if (queue.length === 0) groups.delete(key);
    return batch;
  };

  /** Whether the group waiting longest holds a full call: what a hand-off that queues must be. */
  const fullCallWaits = (): boolean => {
    const queue = oldestGroup(groups)?.[1];
    const head = queue?.[0];
    if (!queue || !head) return false;
    return !head.joinable || backlog(queue).rows >= sizer.bestSize;
  };

  const dispatch = (): void => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    while (busy < slots + queued && waiting > 0) {
      if (busy >= slots && !fullCallWaits()) return;
      if (busy < slots && options.maxDelayMs > 0 && maxRows > 1) {
        const oldest = oldestGroup(groups);
        const head = oldest?.[1][0];
        const waited = head ? now() - head.arrivedAt : Number.POSITIVE_INFINITY;
        // A request of serial traffic (a client that sends its next request once this one is
        // answered) would only wait out the window: nothing can join it.
        if (
          head?.serial === false &&
          waited < options.maxDelayMs &&
          backlog(oldest?.[1] ?? []).rows < sizer.bestSize
        ) {
          timer = setTimeout(dispatch, options.maxDelayMs - waited);
          return;
        }
      }
      const batch = take();
      if (batch.length === 0) continue;
      busy += 1;
      const done = batch.length === 1 ? runAlone(batch[0] as Piece) : runJoined(batch);
      void done.finally(() => {
        busy -= 1;
        dispatch();
      });
    }
  };

  return {
    get pending() {
      return waiting;
    },
    stats: () => ({ ...sizer.stats(), handoffs, runs }),
    submit(inputs, outputs, transfer, submitOptions = {}) {
      return new Promise<BatchedResult>((resolve, reject) => {
        const first = Object.values(inputs)[0];
        const rows = first ? rowsOf(first) : 1;
        const arrivedAt = now();
        const foundIdle = busy === 0 && waiting === 0;
        const serial = foundIdle && lastFoundIdle;
        lastFoundIdle = foundIdle;
        // Inputs that disagree on their first dimension cannot be split back by rows: alone.
        const joinable =
          maxRows > 1 &&
          Object.values(inputs).every((t) => t.shape.length > 0 && rowsOf(t) === rows);
        const request: BatchRequest = {
          inputs,
          outputs,
          rows,
          transfer,
          arrivedAt,
          deadlineAt: arrivedAt + (submitOptions.budgetMs ?? Number.POSITIVE_INFINITY),
          queuedAt: arrivedAt,
          serial,
          joinable,
          taken: 0,
          settled: false,
          parts: [],
          resolve,
          reject,
        };
        const key = joinable ? groupKey(inputs, outputs) : `alone:${(aloneCounter += 1)}`;
        const queue = groups.get(key);
        if (queue) queue.push(request);
        else groups.set(key, [request]);
        waiting += 1;
        if (gather) return;
        if (foundIdle && !serial && options.gatherTurn && options.maxDelayMs === 0) {
          gather = setImmediate(() => {
            gather = undefined;
            dispatch();
          });
          return;
        }
        dispatch();
      });
    },
  };
}
