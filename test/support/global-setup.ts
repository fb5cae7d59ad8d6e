import type { TestProject } from 'vitest/node';
import { buildPackages } from '../../scripts/lib/pack.js';
import { provideRedis } from '../../scripts/lib/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/**
 * One Redis for the whole run (each test file isolates itself with its own key prefix), and a
 * build of the current sources (`pnpm build`, incremental: half a second when nothing changed),
 * made again before each rerun of watch mode: the tests that run `conveyor` run its build, as
 * the published bin does (apps/cli/test/support.ts); everything else runs on the sources.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  buildPackages();
  project.onTestsRerun(() => buildPackages());
  const redis = await provideRedis(process.env.REDIS_URL);
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}
