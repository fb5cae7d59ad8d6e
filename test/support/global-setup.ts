import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/** One Redis for the whole run; each test file isolates itself with its own key prefix. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Imported here, not above: vitest loads every global setup file before it runs the first, and
  // this module reaches @conveyor/shared's build, which build-setup.ts makes first on a fresh clone.
  const { provideRedis } = await import('../../scripts/lib/redis-server.js');
  const redis = await provideRedis(process.env.REDIS_URL);
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}
