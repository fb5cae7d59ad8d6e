import type { RedisClient } from './redis-client.js';

/**
 * The Redis setting Conveyor ships with beside `noeviction` (docker-compose.yml, `conveyor dev`,
 * docs/operations.md): the longest field value a hash keeps in Redis's compact listpack encoding.
 * Redis's default, 64 bytes, is shorter than a Conveyor job's payload, options and result, so each
 * job hash became a hash table: a small allocation per field, each made when the job was added
 * and freed when it was trimmed. With 1024, an iris job's hash is one listpack: about 37 % less
 * memory per kept job (816 against 1,288 bytes, MEMORY USAGE) and less Redis CPU per job
 * (`pnpm bench` scenario 8). Hashes with a larger value (stored results) still become hash
 * tables, as before.
 */
export const JOB_HASH_VALUE_BYTES = 1024;

/**
 * `redis-server` arguments for it. `hash-max-ziplist-value` is the name Redis 6 knows, and an
 * alias of `hash-max-listpack-value` from Redis 7 on.
 */
export const REDIS_SERVER_SETTINGS: readonly string[] = Object.freeze([
  '--hash-max-ziplist-value',
  String(JOB_HASH_VALUE_BYTES),
]);

/**
 * The `hash-max-listpack-value` of the Redis `redis` talks to, asked by the name Redis 6 knows (an
 * alias from Redis 7 on); NaN when the reply is not a setting's. Rejects when Redis refuses
 * `CONFIG` (a managed service, an ACL).
 */
export async function hashValueBytes(redis: RedisClient): Promise<number> {
  const reply: unknown = await redis.config('GET', 'hash-max-ziplist-value');
  return Array.isArray(reply) ? Number(reply[1]) : Number.NaN;
}
