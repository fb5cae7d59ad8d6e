/**
 * @file One request waiting in a batcher, and the pieces it runs in: the whole request, or, when it
 * has more rows than a call may take, slices along the first dimension whose outputs are joined
 * back in order.
 */
import type { Tensor } from '@conveyor/shared';
import { concatRows, sliceRows } from './batch-rows.js';

/** What one onnxruntime call returns. */
export interface RunResult {
  outputs: Record<string, Tensor>;
  /** Milliseconds onnxruntime spent in run() (summed over its calls). */
  ms: number;
  /** onnxruntime calls it made: more than 1 only when asked to run in chunks. Default 1. */
  calls?: number | undefined;
}

/** The outcome of one request, with the size of the batch it ran in. */
export interface BatchedResult extends Omit<RunResult, 'calls'> {
  /**
   * Rows in the onnxruntime call this request was part of (its own rows when it ran alone; the
   * largest call's when it was split, and then `ms` sums its calls).
   */
  batchRows: number;
  /** Requests in that call (the most of any of its calls when it was split). */
  batchRequests: number;
}

/** A request in a batcher's queue. */
export interface BatchRequest {
  readonly inputs: Record<string, Tensor>;
  readonly outputs: string[];
  readonly rows: number;
  readonly transfer: boolean;
  /** When it was submitted, and by when it should be done, on the batcher's clock (ms). */
  readonly arrivedAt: number;
  readonly deadlineAt: number;
  /** Its place in line: its arrival, or when its latest slice was taken. */
  queuedAt: number;
  /**
   * Whether it found nothing of its version running or waiting, as did the request before it:
   * traffic one request at a time, which no other request joins within `maxDelayMs`.
   */
  readonly serial: boolean;
  /** Whether its inputs agree on their first dimension, so that it can be joined and split. */
  readonly joinable: boolean;
  /** Rows already handed to calls. */
  taken: number;
  /** Whether it has been resolved or rejected (a failed piece fails the whole request). */
  settled: boolean;
  /** Outcomes of its pieces so far, when it is split. */
  readonly parts: { from: number; rows: number; result: BatchedResult }[];
  readonly resolve: (result: BatchedResult) => void;
  readonly reject: (error: unknown) => void;
}

/** Rows [from, from + rows) of a request, run in one call. */
export interface Piece {
  readonly request: BatchRequest;
  readonly from: number;
  readonly rows: number;
  /** Run as consecutive calls of this many rows in one hand-off (a slice of a large request). */
  readonly chunkRows?: number | undefined;
}

const isWhole = (piece: Piece): boolean => piece.from === 0 && piece.rows === piece.request.rows;

/**
 * The inputs of a piece; a slice is a copy (into a buffer of `alloc`, a version's staging buffers,
 * when given), which its call may always transfer. A whole request moves its own buffers: copied
 * into a staging buffer instead, it would leave them on this thread to be collected, which
 * measured worse than collecting them on the inference thread.
 */
export function pieceInputs(
  piece: Piece,
  alloc?: (bytes: number) => ArrayBuffer,
): { inputs: Record<string, Tensor>; transfer: boolean } {
  const { request } = piece;
  if (isWhole(piece)) return { inputs: request.inputs, transfer: request.transfer };
  const inputs: Record<string, Tensor> = {};
  for (const [name, tensor] of Object.entries(request.inputs))
    inputs[name] = sliceRows(tensor, piece.from, piece.rows, alloc);
  return { inputs, transfer: true };
}

/** Fails a piece's request, once. */
export function failPiece(piece: Piece, error: unknown): void {
  if (piece.request.settled) return;
  piece.request.settled = true;
  piece.request.reject(error);
}

/** Hands a piece its outcome; a split request resolves when its last piece is in. */
export function deliverPiece(piece: Piece, result: BatchedResult): void {
  const { request } = piece;
  if (request.settled) return;
  if (isWhole(piece)) {
    request.settled = true;
    request.resolve(result);
    return;
  }
  request.parts.push({ from: piece.from, rows: piece.rows, result });
  const rows = request.parts.reduce((n, p) => n + p.rows, 0);
  if (rows < request.rows) return;
  const parts = [...request.parts].sort((a, b) => a.from - b.from);
  const outputs: Record<string, Tensor> = {};
  for (const name of Object.keys(parts[0]?.result.outputs ?? {}))
    outputs[name] = concatRows(parts.map((p) => p.result.outputs[name] as Tensor));
  request.settled = true;
  request.resolve({
    outputs,
    ms: parts.reduce((n, p) => n + p.result.ms, 0),
    batchRows: Math.max(...parts.map((p) => p.result.batchRows)),
    batchRequests: Math.max(...parts.map((p) => p.result.batchRequests)),
  });
}
