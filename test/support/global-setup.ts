import type { TestProject } from 'vitest/node';
import { provideRedis } from '../../scripts/lib/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/** One Redis for the whole run; each test file isolates itself with its own key prefix. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await provideRedis(process.env.REDIS_URL);
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}
