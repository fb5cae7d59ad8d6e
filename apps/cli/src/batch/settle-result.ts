import type { PredictManyResult } from '@conveyor/sdk';
import type { ConveyorError } from '@conveyor/shared';
import type { WorkItem } from './input-reader.js';
import { blockLines, rowLine } from './result-lines.js';

/** What settling a result needs of the batch run. */
export interface SettleDeps {
  /** Writes a row's failure to --failed. */
  fail(line: number, error: ConveyorError): void;
  /** Writes a result line (a whole line, newline included) to --out. */
  write: (line: string) => void;
  /** Counts `rows` rows whose lines were written. */
  succeeded(rows: number): void;
  /** ERR_QUEUE_UNAVAILABLE when Redis does not answer now, else undefined. */
  check(): Promise<ConveyorError | undefined>;
  /** Runs rows as items of their own (predictMany over them). */
  alone(rows: Record<string, unknown>[]): AsyncIterable<PredictManyResult>;
}

/**
 * Writes one item's result and returns the error that must stop the run, if any. A failure while
 * Redis does not answer is Redis's, not the rows': they stay undone. A block of rows that failed
 * for its data (a non-retryable code) runs again row by row, so that only its bad rows fail; a
 * retryable failure (a timeout) is every row's, as it is for the rows of one packed job.
 */
export function createSettle(
  deps: SettleDeps,
): (item: WorkItem, result: PredictManyResult) => Promise<ConveyorError | undefined> {
  const settle = async (
    item: WorkItem,
    result: PredictManyResult,
  ): Promise<ConveyorError | undefined> => {
    const { lines, row } = item;
    if (result.ok) {
      const { outputs } = result.prediction;
      if (row !== undefined && blockLines(lines, outputs, deps.write)) {
        deps.succeeded(lines.length);
        return undefined;
      }
      // A row alone keeps its outputs whole when they are not one per row.
      if (lines.length === 1) {
        deps.write(rowLine(lines[0] ?? 0, outputs));
        deps.succeeded(1);
        return undefined;
      }
    } else {
      const gone =
        result.error.code === 'ERR_QUEUE_UNAVAILABLE' ? result.error : await deps.check();
      if (gone !== undefined) return gone;
      if (row === undefined || lines.length === 1 || result.error.retryable) {
        for (const line of lines) deps.fail(line, result.error);
        return undefined;
      }
    }
    // A block whose outputs are not one per row also lands here, to run row by row.
    return row === undefined ? undefined : rowByRow(lines, row);
  };

  const rowByRow = async (
    lines: readonly number[],
    row: (i: number) => Record<string, unknown>,
  ): Promise<ConveyorError | undefined> => {
    const rows = lines.map((_, i) => row(i));
    for await (const result of deps.alone(rows)) {
      const inputs = rows[result.index] ?? {};
      // Each row alone is a block of one: its line holds its `[1, ...]` slice, as in a block.
      const own: WorkItem = { lines: [lines[result.index] ?? 0], inputs, row: () => inputs };
      const fatal = await settle(own, result);
      if (fatal !== undefined) return fatal;
    }
    return undefined;
  };
  return settle;
}
