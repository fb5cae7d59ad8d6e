import type { QueueClient } from '@conveyor/sdk';
import { ACCURACY_WINDOWS, type AccuracyWindow } from '@conveyor/shared';
import type { AccuracyReader } from './alert-evaluator.js';

/**
 * The live-accuracy window an alert's window reads: the shortest of ACCURACY_WINDOWS (5m, 1h,
 * 24h) that covers it, else the longest. Live accuracy is kept in those windows only.
 */
export function accuracyWindowFor(windowMs: number): AccuracyWindow {
  const windows = Object.entries(ACCURACY_WINDOWS) as [AccuracyWindow, number][];
  windows.sort((a, b) => a[1] - b[1]);
  return (windows.find(([, ms]) => ms >= windowMs) ?? windows.at(-1)!)[0];
}

/**
 * Reads a version's live accuracy (feedback labels against its answers) for `accuracyBelow`
 * alerts: undefined while the window has no labelled rows.
 */
export function accuracyReaderOf(client: Pick<QueueClient, 'accuracy'>): AccuracyReader {
  return async (model, version, windowMs) => {
    const window = accuracyWindowFor(windowMs);
    const report = await client.accuracy(model);
    const read = report.versions.find((v) => v.version === version)?.windows[window];
    if (!read || read.accuracy === null) return undefined;
    return { value: read.accuracy, rows: read.labelled, detail: { accuracyWindow: window } };
  };
}
