import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { provideRedis } from '../../scripts/lib/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Brings every package's dist/ up to date with its sources (`pnpm build`, incremental: a build
 * with nothing to do takes half a second). The tests that run `conveyor` run its build, as the
 * published bin does (apps/cli/test/support.ts); everything else runs on the sources.
 */
function buildPackages(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: 'pipe',
    });
  } catch (error) {
    const output = (error as { stdout?: Buffer }).stdout?.toString('utf8') ?? '';
    throw new Error(`the build the CLI tests run failed (pnpm build):\n${output}`, {
      cause: error,
    });
  }
}

/**
 * One Redis for the whole run (each test file isolates itself with its own key prefix), and a
 * build of the current sources, made again before each rerun of watch mode.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  buildPackages();
  project.onTestsRerun(() => buildPackages());
  const redis = await provideRedis(process.env.REDIS_URL);
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}
