import { splitOutputs, type Outputs, type Prediction } from '@conveyor/sdk';

/**
 * Where one item of a batch is: a job of its own, or rows `[start, start + rows)` of a packed job
 * (one job holding the rows of many items, joined along the first dimension).
 */
export interface BatchEntry {
  jobId: string;
  /** Set for an item packed with others: its first row in the packed job and its row count. */
  rows?: { start: number; count: number };
}

/**
 * The form of an entry in the batch's Redis list `<prefix>:batch:<id>` (one entry per item, in
 * input order): a bare job id for an item with a job of its own (the only form batches stored
 * before packing had), `<jobId>#<start>#<rows>` for an item packed with others. Job ids never
 * hold `#`.
 */
export function formatEntry(entry: BatchEntry): string {
  return entry.rows === undefined
    ? entry.jobId
    : `${entry.jobId}#${entry.rows.start}#${entry.rows.count}`;
}

const PACKED = /^([^#]+)#([0-9]+)#([0-9]+)$/;

export function parseEntry(text: string): BatchEntry {
  const packed = PACKED.exec(text);
  if (packed === null) return { jobId: text };
  const [, jobId = '', start = '0', count = '0'] = packed;
  return { jobId, rows: { start: Number(start), count: Number(count) } };
}

/**
 * An item's share of a packed job's prediction: its own rows of every output. Undefined when an
 * output does not have the pack's rows along its first dimension.
 */
export function itemPrediction(prediction: Prediction, entry: BatchEntry): Prediction | undefined {
  if (entry.rows === undefined) return prediction;
  const { start, count } = entry.rows;
  const first = Object.values(prediction.outputs)[0];
  const total = first?.shape[0] ?? 0;
  if (start + count > total) return undefined;
  const split = splitOutputs(prediction.outputs, [start, count, total - start - count]);
  const outputs: Outputs | undefined = split?.[1];
  return outputs === undefined ? undefined : { ...prediction, outputs };
}

/** The entries of each job, in order of first appearance: a packed job has many. */
export function byJob(entries: readonly BatchEntry[]): Map<string, number[]> {
  const jobs = new Map<string, number[]>();
  for (const [index, { jobId }] of entries.entries()) {
    const indices = jobs.get(jobId);
    if (indices === undefined) jobs.set(jobId, [index]);
    else indices.push(index);
  }
  return jobs;
}
