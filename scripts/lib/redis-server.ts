import { spawnSync } from 'node:child_process';
import { REDIS_SERVER_SETTINGS } from '@conveyor/shared';
import {
  hasRedisServerBinary,
  redisAnswers,
  startRedisServer,
  type RedisHandle,
} from '../../apps/cli/src/redis-server.js';

// The helpers live with the conveyor CLI (`conveyor dev` starts a throwaway Redis at run time).
export {
  freePort,
  hasRedisServerBinary,
  redisAnswers,
  startRedisServer,
  type RedisHandle,
  type RedisServerOptions,
} from '../../apps/cli/src/redis-server.js';

function dockerAnswers(): boolean {
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 }).status === 0;
}

/**
 * Provides a Redis: REDIS_URL when it is set and answers; otherwise the official image through
 * testcontainers where a Docker engine answers; otherwise a `redis-server` started on a free port.
 */
export async function provideRedis(envUrl: string | undefined): Promise<RedisHandle> {
  if (envUrl) {
    if (await redisAnswers(envUrl))
      return { url: envUrl, source: 'env', stop: () => Promise.resolve() };
    throw new Error(
      `REDIS_URL is set to ${envUrl.replace(/:[^:@/]*@/, ':***@')} but nothing answers there`,
    );
  }
  if (dockerAnswers()) {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7-alpine')
      .withCommand(['redis-server', '--maxmemory-policy', 'noeviction', ...REDIS_SERVER_SETTINGS])
      .start();
    return {
      url: container.getConnectionUrl(),
      source: 'container',
      stop: async () => void (await container.stop()),
    };
  }
  if (hasRedisServerBinary()) return startRedisServer();
  throw new Error(
    'no Redis: set REDIS_URL, start Docker, or install redis-server (apt-get install -y redis-server)',
  );
}
