import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Where the fault tests append their rows (one JSON object a line); the reporter prints them. */
export const SUMMARY_FILE = join(ROOT, 'test-artifacts', 'chaos-summary.jsonl');
/** The same rows as a markdown table, written at the end of `pnpm test:chaos` for docs/reliability.md. */
export const SUMMARY_MARKDOWN = join(ROOT, 'test-artifacts', 'chaos-summary.md');

/** One fault scenario's outcome, from the client's point of view. */
export interface ScenarioRow {
  scenario: string;
  /** The faults injected, e.g. `kill -9 worker (5 jobs in flight)`. */
  faults: string;
  /** Jobs the client tried to submit (each key or job once). */
  submitted: number;
  /** Jobs the client saw completed (or failed with their own code, where that is the expectation). */
  completed: number;
  /** Jobs acknowledged to the client and gone after the fault. */
  lost: number;
  /** Jobs that ran (were started by a worker) more than once. */
  duplicated: number;
  /** Anything else measured. */
  note?: string;
}

/** Appends a row for the closing table of `pnpm test:chaos`. */
export function recordScenario(row: ScenarioRow): void {
  mkdirSync(dirname(SUMMARY_FILE), { recursive: true });
  appendFileSync(SUMMARY_FILE, `${JSON.stringify(row)}\n`);
}

/** The rows recorded so far in this run. */
export function readScenarios(): ScenarioRow[] {
  if (!existsSync(SUMMARY_FILE)) return [];
  return readFileSync(SUMMARY_FILE, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as ScenarioRow);
}

/** The rows as a markdown table, columns padded so it reads as plain text too. */
export function formatTable(rows: readonly ScenarioRow[]): string {
  const header = [
    'scenario',
    'faults injected',
    'submitted',
    'completed',
    'lost',
    'duplicated',
    'note',
  ];
  const body = rows.map((r) => [
    r.scenario,
    r.faults,
    String(r.submitted),
    String(r.completed),
    String(r.lost),
    String(r.duplicated),
    r.note ?? '',
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...body.map((row) => row[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
