import type { BatchStatus } from './batches-schemas.js';
import { failureOf, unpackFailed, type BatchSource } from './batches-unpack.js';
import { readJobSummary, type JobReader } from './jobs-view.js';

/** Job states read from Redis at once. */
const CHUNK = 1000;

/** A job's state as BullMQ reports it (`unknown` for a job it does not have). */
export type StateOf = (jobId: string) => Promise<string>;

async function statesOf(ids: readonly string[], stateOf: StateOf): Promise<Map<string, string>> {
  const states = new Map<string, string>();
  for (let start = 0; start < ids.length; start += CHUNK) {
    const part = ids.slice(start, start + CHUNK);
    const read = await Promise.all(part.map(stateOf));
    part.forEach((id, i) => states.set(id, read[i] ?? 'unknown'));
  }
  return states;
}

/**
 * A batch's items per state: a packed job's state counts once for each of its items. A packed
 * job seen failed for its data is unpacked here (see Unpacker), and its items count in the states
 * of their own new jobs.
 */
export async function batchCounts(
  client: JobReader,
  source: BatchSource,
  stateOf: StateOf,
): Promise<BatchStatus['counts']> {
  const states = await statesOf([...source.groups.keys()], stateOf);
  const moved: string[] = [];
  for (const [id, indices] of source.groups) {
    const first = indices[0] ?? 0;
    if (states.get(id) !== 'failed' || source.entries[first]?.rows === undefined) continue;
    if (await unpackFailed(source, first, failureOf(await readJobSummary(client, id))))
      moved.push(...indices.map((i) => source.entries[i]?.jobId ?? ''));
  }
  for (const [id, state] of await statesOf(moved, stateOf)) states.set(id, state);
  const counts: BatchStatus['counts'] = {
    waiting: 0,
    prioritized: 0,
    delayed: 0,
    active: 0,
    completed: 0,
    failed: 0,
    'waiting-children': 0,
    unknown: 0,
  };
  for (const { jobId } of source.entries) {
    const state = states.get(jobId) ?? 'unknown';
    if (state in counts) counts[state as keyof typeof counts] += 1;
  }
  return counts;
}
