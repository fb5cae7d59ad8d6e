import { mkdirSync, writeFileSync } from 'node:fs';
import type { JobHandle, Prediction, QueueClient } from '@conveyor/sdk';
import type { ScenarioRow } from '../chaos/summary.js';
import { retrying } from '../chaos/support.js';

const FLOWER = { features: [[5.1, 3.5, 1.4, 0.2]] };

/** A chaos-table row of a Redis failover, with how each job ended. */
export interface FailoverRow extends ScenarioRow {
  /** How each of the jobs enqueued before the fault ended: `answered` or its error code. */
  outcomes: string[];
  /** Models of the predictions made after the failover, one per prediction. */
  afterModels: string[];
}

/**
 * One prediction as a client following docs/errors.md makes it (chaos/support.ts `retrying`): the
 * producer connection fails fast, and may still be reconnecting to the new master when the
 * sentinels or the cluster have promoted it; ERR_QUEUE_UNAVAILABLE is retried. Resolves with the
 * prediction and how many calls it took.
 */
async function predictRetrying(
  client: QueueClient,
): Promise<{ prediction: Prediction; calls: number }> {
  let calls = 0;
  const prediction = await retrying(() => {
    calls += 1;
    return client.predict('iris', FLOWER, { timeoutMs: 60_000 });
  });
  return { prediction, calls };
}

/**
 * Once a failover is over: how each job acknowledged before it ended, then 10 new iris
 * predictions on the same client (each retried while it meets ERR_QUEUE_UNAVAILABLE, see
 * predictRetrying). The row goes to test-artifacts/<artifact>.json and stdout.
 */
export async function reportFailover(
  client: QueueClient,
  handles: readonly JobHandle[],
  what: { scenario: string; faults: string; artifact: string },
): Promise<FailoverRow> {
  const outcomes = await Promise.all(
    handles.map((handle) =>
      handle.result({ timeoutMs: 30_000 }).then(
        () => 'answered',
        (error: { code?: string }) => error.code ?? 'unknown',
      ),
    ),
  );
  const answered = outcomes.filter((o) => o === 'answered').length;
  const after = await Promise.all(Array.from({ length: 10 }, () => predictRetrying(client)));
  const retried = after.filter(({ calls }) => calls > 1).length;
  const row = {
    scenario: what.scenario,
    faults: what.faults,
    submitted: handles.length + after.length,
    completed: answered + after.length,
    lost: handles.length - answered,
    duplicated: 0,
    note: `ends of the ${handles.length}: ${JSON.stringify(outcomes.filter((o) => o !== 'answered'))}; after the failover, ${retried} of ${after.length} retried ERR_QUEUE_UNAVAILABLE`,
  };
  mkdirSync('test-artifacts', { recursive: true });
  writeFileSync(`test-artifacts/${what.artifact}.json`, `${JSON.stringify(row)}\n`);
  // The test's output, so that each run reports what it lost.
  process.stdout.write(`${what.scenario}: ${JSON.stringify(row)}\n`);
  return { ...row, outcomes, afterModels: after.map(({ prediction }) => prediction.model) };
}
