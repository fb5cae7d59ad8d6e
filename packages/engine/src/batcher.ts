import {
  ConveyorError,
  DTYPE_ARRAYS,
  createTensor,
  toConveyorError,
  type BatchingConfig,
  type Logger,
  type Tensor,
  type TensorData,
  type TypedArray,
} from '@conveyor/shared';

/** What one onnxruntime call returns. */
export interface RunResult {
  outputs: Record<string, Tensor>;
  /** Milliseconds onnxruntime spent in run(). */
  ms: number;
}

/** Runs inputs on an inference thread; `transfer` moves the inputs' buffers there. */
export type RunFn = (
  inputs: Record<string, Tensor>,
  outputs: string[],
  transfer: boolean,
) => Promise<RunResult>;

/** The outcome of one request, with the size of the batch it ran in. */
export interface BatchedResult extends RunResult {
  /** Rows in the onnxruntime call this request was part of (its own rows when it ran alone). */
  batchRows: number;
  /** Requests in that call. */
  batchRequests: number;
}

export interface BatcherOptions extends BatchingConfig {
  /** Calls allowed to run at once: the model's inference threads. */
  slots: number;
  /** Whether every input and output has a free first dimension. */
  batchable: boolean;
  run: RunFn;
  log: Logger;
}

interface Pending {
  inputs: Record<string, Tensor>;
  outputs: string[];
  rows: number;
  transfer: boolean;
  arrivedAt: number;
  resolve: (result: BatchedResult) => void;
  reject: (error: unknown) => void;
}

/** A model version's queue of requests, dispatched to its threads in batches. */
export interface Batcher {
  submit(
    inputs: Record<string, Tensor>,
    outputs: string[],
    transfer: boolean,
  ): Promise<BatchedResult>;
  /** Requests waiting for a free thread. */
  readonly pending: number;
}

const rowsOf = (tensor: Tensor): number => tensor.shape[0] ?? 1;

/**
 * Requests can share a call when they ask for the same outputs and their inputs agree on
 * everything but the first dimension.
 */
function groupKey(inputs: Record<string, Tensor>, outputs: readonly string[]): string {
  const parts = Object.keys(inputs)
    .sort()
    .map((name) => {
      const t = inputs[name] as Tensor;
      return `${name}:${t.dtype}:${t.shape.slice(1).join('x')}`;
    });
  return `${outputs.join(',')}|${parts.join('|')}`;
}

function concatRows(tensors: readonly Tensor[]): Tensor {
  const first = tensors[0] as Tensor;
  const total = tensors.reduce((n, t) => n + rowsOf(t), 0);
  const length = tensors.reduce((n, t) => n + t.data.length, 0);
  let data: TensorData;
  if (first.dtype === 'string') {
    data = tensors.flatMap((t) => t.data as string[]);
  } else {
    const Ctor = DTYPE_ARRAYS[first.dtype] as unknown as new (length: number) => TypedArray;
    data = new Ctor(length);
    let offset = 0;
    for (const t of tensors) {
      // Every tensor of a group has the dtype of the first, so the arrays are of one kind.
      (data as unknown as { set(src: TypedArray, at: number): void }).set(
        t.data as TypedArray,
        offset,
      );
      offset += t.data.length;
    }
  }
  return createTensor(
    first.dtype,
    [total, ...first.shape.slice(1)],
    data,
    Number.POSITIVE_INFINITY,
    'batch',
  );
}

/** Rows [from, from + rows) of a tensor whose first dimension is the batch. */
function sliceRows(tensor: Tensor, from: number, rows: number): Tensor {
  const total = rowsOf(tensor);
  const perRow = total === 0 ? 0 : tensor.data.length / total;
  const data = tensor.data.slice(from * perRow, (from + rows) * perRow) as TensorData;
  return createTensor(
    tensor.dtype,
    [rows, ...tensor.shape.slice(1)],
    data,
    Number.POSITIVE_INFINITY,
    'batch slice',
  );
}

/**
 * Dynamic batching for one model version. A request runs at once when one of the version's
 * threads is free (after waiting at most `maxDelayMs` for others to join it); requests that
 * arrive while every thread is busy wait and then run together, up to `maxBatchSize` rows, as one
 * onnxruntime call along the first dimension. Each request still gets its own outputs, and its
 * own error: when a joined call fails, its requests run again one by one so that only the bad one
 * fails.
 */
export function createBatcher(options: BatcherOptions): Batcher {
  const { slots, run, log } = options;
  const maxRows = options.batchable ? options.maxBatchSize : 1;
  const groups = new Map<string, Pending[]>();
  let busy = 0;
  let waiting = 0;
  let timer: NodeJS.Timeout | undefined;
  let aloneCounter = 0;

  const runAlone = async (p: Pending): Promise<void> => {
    try {
      const result = await run(p.inputs, p.outputs, p.transfer);
      p.resolve({ ...result, batchRows: p.rows, batchRequests: 1 });
    } catch (error) {
      p.reject(error);
    }
  };

  const runJoined = async (batch: Pending[]): Promise<void> => {
    const first = batch[0] as Pending;
    const total = batch.reduce((n, p) => n + p.rows, 0);
    let result: RunResult;
    try {
      const inputs: Record<string, Tensor> = {};
      for (const name of Object.keys(first.inputs))
        inputs[name] = concatRows(batch.map((p) => p.inputs[name] as Tensor));
      result = await run(inputs, first.outputs, true);
      for (const [name, tensor] of Object.entries(result.outputs)) {
        if (rowsOf(tensor) !== total || tensor.shape.length === 0) {
          throw new ConveyorError(
            'ERR_INFERENCE_FAILED',
            `output "${name}" has shape [${tensor.shape.join(', ')}] for a batch of ${total} rows`,
          );
        }
      }
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
    for (const p of batch) {
      const outputs: Record<string, Tensor> = {};
      for (const [name, tensor] of Object.entries(result.outputs))
        outputs[name] = sliceRows(tensor, offset, p.rows);
      offset += p.rows;
      p.resolve({ outputs, ms: result.ms, batchRows: total, batchRequests: batch.length });
    }
  };

  /** Takes the requests of the group waiting longest, up to maxRows rows (at least one request). */
  const take = (): Pending[] | undefined => {
    let oldest: [string, Pending[]] | undefined;
    for (const entry of groups) {
      if (!oldest || (entry[1][0] as Pending).arrivedAt < (oldest[1][0] as Pending).arrivedAt)
        oldest = entry;
    }
    if (!oldest) return undefined;
    const [key, queue] = oldest;
    const batch: Pending[] = [queue.shift() as Pending];
    let rows = (batch[0] as Pending).rows;
    while (queue.length > 0 && rows + (queue[0] as Pending).rows <= maxRows) {
      const next = queue.shift() as Pending;
      rows += next.rows;
      batch.push(next);
    }
    if (queue.length === 0) groups.delete(key);
    waiting -= batch.length;
    return batch;
  };

  const rowsWaiting = (): number => {
    let oldestRows = 0;
    let oldestAt = Number.POSITIVE_INFINITY;
    for (const queue of groups.values()) {
      const head = queue[0] as Pending;
      if (head.arrivedAt < oldestAt) {
        oldestAt = head.arrivedAt;
        oldestRows = queue.reduce((n, p) => n + p.rows, 0);
      }
    }
    return oldestRows;
  };

  const oldestArrival = (): number => {
    let at = Number.POSITIVE_INFINITY;
    for (const queue of groups.values()) at = Math.min(at, (queue[0] as Pending).arrivedAt);
    return at;
  };

  const dispatch = (): void => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    while (busy < slots && waiting > 0) {
      if (options.maxDelayMs > 0 && maxRows > 1 && rowsWaiting() < maxRows) {
        const waited = performance.now() - oldestArrival();
        if (waited < options.maxDelayMs) {
          timer = setTimeout(dispatch, options.maxDelayMs - waited);
          return;
        }
      }
      const batch = take();
      if (!batch) return;
      busy += 1;
      const done = batch.length === 1 ? runAlone(batch[0] as Pending) : runJoined(batch);
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
    submit(inputs, outputs, transfer) {
      return new Promise<BatchedResult>((resolve, reject) => {
        const first = Object.values(inputs)[0];
        const pending: Pending = {
          inputs,
          outputs,
          rows: first ? rowsOf(first) : 1,
          transfer,
          arrivedAt: performance.now(),
          resolve,
          reject,
        };
        // Inputs that disagree on their first dimension cannot be split back by rows: alone.
        const joinable =
          maxRows > 1 &&
          Object.values(inputs).every((t) => t.shape.length > 0 && rowsOf(t) === pending.rows);
        const key = joinable ? groupKey(inputs, outputs) : `alone:${(aloneCounter += 1)}`;
        const queue = groups.get(key);
        if (queue) queue.push(pending);
        else groups.set(key, [pending]);
        waiting += 1;
        dispatch();
      });
    },
  };
}
