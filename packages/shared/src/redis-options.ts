/**
 * The connection rules BullMQ needs, in one place. They are plain ioredis option objects so that
 * this package needs no Redis client of its own.
 */
export type RedisRole = 'worker' | 'producer';

export interface RedisConnectionOptions {
  /** Blocking worker connections must never give up a command; producers must fail fast. */
  maxRetriesPerRequest: number | null;
  /** Producers refuse commands while disconnected instead of queueing them in memory. */
  enableOfflineQueue: boolean;
  /** Reconnect delay in ms: grows with each attempt, capped at 5 s. */
  retryStrategy: (attempt: number) => number;
  connectionName: string;
}

export function redisOptions(role: RedisRole, name: string): RedisConnectionOptions {
  return {
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 6), 5000),
    connectionName: name,
  };
}
