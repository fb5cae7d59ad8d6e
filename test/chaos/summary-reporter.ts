import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Reporter } from 'vitest/node';
import { SUMMARY_FILE, SUMMARY_MARKDOWN, formatTable, readScenarios } from './summary.js';

/**
 * Prints the table of fault scenarios at the end of `pnpm test:chaos` (faults injected, jobs
 * submitted, completed, lost, duplicated) and writes it to test-artifacts/chaos-summary.md.
 */
export default class ChaosSummaryReporter implements Reporter {
  onInit(): void {
    rmSync(SUMMARY_FILE, { force: true });
  }

  onTestRunEnd(): void {
    const rows = readScenarios();
    if (rows.length === 0) return;
    const table = formatTable(rows);
    mkdirSync(dirname(SUMMARY_MARKDOWN), { recursive: true });
    writeFileSync(SUMMARY_MARKDOWN, `${table}\n`);
    process.stdout.write(`\nfault scenarios (${SUMMARY_MARKDOWN}):\n${table}\n`);
  }
}
