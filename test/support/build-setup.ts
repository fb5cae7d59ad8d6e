import type { TestProject } from 'vitest/node';
import { buildPackages } from '../../scripts/lib/pack.js';

/**
 * Brings every package's build up to date with its sources (`pnpm build`, incremental: half a
 * second when nothing changed), and again before each rerun of watch mode. The tests that start
 * `conveyor` or a worker process start its build, as the published bin and the Docker image do
 * (apps/cli/test/support.ts, test/support/workers.ts); everything else runs on the sources.
 */
export default function setup(project: TestProject): void {
  buildPackages();
  project.onTestsRerun(() => buildPackages());
}
