import type { Redis } from 'ioredis';
import {
  CATALOGUE_HEARTBEAT_MS,
  CatalogueEntrySchema,
  catalogueKey,
  msFromRedisTime,
  throttledErrorLog,
  type CatalogueEntry,
  type Logger,
  type ModelSignature,
} from '@conveyor/shared';

/** Deletes a catalogue field only if it still holds what the caller read (no worker re-announced it since). */
const DELETE_IF_UNCHANGED = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0`;

/** Keeps a worker's model versions in the catalogue while it runs. */
export interface Announcer {
  stop(): void;
}

/**
 * Announces `signatures` now and every CATALOGUE_HEARTBEAT_MS, each with the time of announcing
 * by the Redis server's clock, and deletes entries no worker has announced for `expiryMs` (a model
 * that was taken away), so that clients and readiness stop claiming it. Redis errors after the first announcement are
 * logged, not thrown: the next beat tries again.
 */
export async function startAnnouncing(options: {
  connection: Redis;
  prefix: string;
  signatures: readonly ModelSignature[];
  expiryMs: number;
  log: Logger;
  /** Time between beats; CATALOGUE_HEARTBEAT_MS unless a test needs it shorter. */
  heartbeatMs?: number;
}): Promise<Announcer> {
  const { connection, signatures, expiryMs, log } = options;
  const key = catalogueKey(options.prefix);

  // Stamped and judged by the Redis server's clock (see msFromRedisTime).
  const announce = async (announcedAt: number) => {
    if (signatures.length === 0) return;
    const fields: Record<string, string> = {};
    for (const signature of signatures) {
      const entry: CatalogueEntry = { ...signature, announcedAt };
      fields[`${signature.name}@${signature.version}`] = JSON.stringify(entry);
    }
    await connection.hset(key, fields);
  };

  const prune = async (now: number) => {
    for (const [field, value] of Object.entries(await connection.hgetall(key))) {
      let announcedAt: number | undefined;
      try {
        const parsed = CatalogueEntrySchema.safeParse(JSON.parse(value));
        if (!parsed.success) continue; // Not ours to judge: clients skip it.
        announcedAt = parsed.data.announcedAt;
      } catch {
        continue;
      }
      if (announcedAt === undefined || now - announcedAt <= expiryMs) continue;
      const deleted = await connection.eval(DELETE_IF_UNCHANGED, 1, key, field, value);
      if (deleted === 1)
        log.info(
          { model: field, lastAnnouncedAt: new Date(announcedAt).toISOString(), expiryMs },
          'forgot a model version no worker has announced',
        );
    }
  };

  const beat = async () => {
    const now = msFromRedisTime(await connection.time());
    await announce(now);
    await prune(now);
  };

  await beat();
  const logError = throttledErrorLog(log, 'could not announce models');
  // While Redis is away a beat waits for it (worker connections retry forever): skip the beats
  // that come meanwhile instead of piling them up.
  let beating = false;
  const timer = setInterval(() => {
    if (beating) return;
    beating = true;
    beat()
      .catch((err: unknown) => logError(err instanceof Error ? err : new Error(String(err))))
      .finally(() => (beating = false));
  }, options.heartbeatMs ?? CATALOGUE_HEARTBEAT_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
