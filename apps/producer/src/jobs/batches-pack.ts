import { inputBytes, packInputs, rowLayout, type BulkItem, type ModelInfo } from '@conveyor/sdk';
import type { TensorSpec } from '@conveyor/shared';
import type { BatchEntry } from './batches-entries.js';

/** One job of a batch: one item, or the consecutive items `first…` packed into one. */
export interface BatchUnit {
  /** What is enqueued. */
  job: BulkItem;
  /** Index of its first item in the batch. */
  first: number;
  /** The items it holds, in order. */
  items: BulkItem[];
  /** Rows of each item, for a packed job (two items or more). */
  rows?: number[];
}

const freeFirst = (spec: TensorSpec) => spec.shape.length > 0 && spec.shape[0] === -1;

/**
 * Whether a batch of `model` may be packed: every announced version takes and gives every tensor
 * with a free first (batch) dimension, so joining items' rows and splitting outputs by row holds.
 */
export function mayPack(models: readonly ModelInfo[], model: string): boolean {
  const versions = models.filter((m) => m.name === model);
  return (
    versions.length > 0 &&
    versions.every((m) => m.inputs.every(freeFirst) && m.outputs.every(freeFirst))
  );
}

/** Turns the items gathered for one job into a unit. */
function unitOf(first: number, items: BulkItem[], rows: number[]): BatchUnit {
  const single = items[0] as BulkItem;
  if (items.length === 1) return { job: single, first, items };
  const total = rows.reduce((n, r) => n + r, 0);
  const inputs = packInputs(
    items.map((item) => item.inputs),
    total,
  ) as BulkItem['inputs'];
  return { job: { inputs }, first, items, rows };
}

/**
 * Groups consecutive items into jobs. With `pack`, items without an idempotency key whose inputs
 * share a layout (same input names, dtypes and trailing dimensions) are packed, up to `limits.rows`
 * rows and `limits.bytes` input bytes per job (see batches-sizes.ts); an item with its own key
 * stays a job of its own, so its key keeps naming exactly one job. Without `pack`, every item is a
 * job.
 */
export function planUnits(
  items: readonly BulkItem[],
  pack: boolean,
  limits: { rows: number; bytes: number },
): BatchUnit[] {
  const units: BatchUnit[] = [];
  let open:
    | {
        first: number;
        key: string;
        items: BulkItem[];
        rows: number[];
        total: number;
        bytes: number;
      }
    | undefined;
  const close = () => {
    if (open !== undefined) units.push(unitOf(open.first, open.items, open.rows));
    open = undefined;
  };
  for (const [index, item] of items.entries()) {
    const layout = pack && item.idempotencyKey === undefined ? rowLayout(item.inputs) : undefined;
    if (layout === undefined) {
      close();
      units.push({ job: item, first: index, items: [item] });
      continue;
    }
    const bytes = inputBytes(item.inputs);
    if (
      open === undefined ||
      open.key !== layout.key ||
      open.total + layout.rows > limits.rows ||
      open.bytes + bytes > limits.bytes
    ) {
      close();
      open = { first: index, key: layout.key, items: [], rows: [], total: 0, bytes: 0 };
    }
    open.items.push(item);
    open.rows.push(layout.rows);
    open.total += layout.rows;
    open.bytes += bytes;
  }
  close();
  return units;
}

/** A packed unit as one job per item, for a pack the SDK refused at submit. */
export function unpackUnit(unit: BatchUnit): BatchUnit[] {
  return unit.items.map((item, i) => ({ job: item, first: unit.first + i, items: [item] }));
}

/** The batch entries (one per item) of units enqueued as `ids`. */
export function entriesOf(units: readonly BatchUnit[], ids: readonly string[]): BatchEntry[] {
  const entries: BatchEntry[] = [];
  for (const [u, unit] of units.entries()) {
    const jobId = ids[u] ?? '';
    if (unit.rows === undefined) {
      entries.push({ jobId });
      continue;
    }
    let start = 0;
    for (const count of unit.rows) {
      entries.push({ jobId, rows: { start, count } });
      start += count;
    }
  }
  return entries;
}
