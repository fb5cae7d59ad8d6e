import {
  CATALOGUE_HEARTBEAT_MS,
  CatalogueEntrySchema,
  catalogueField,
  catalogueKey,
  modelsChannel,
  msFromRedisTime,
  throttledErrorLog,
  type CatalogueEntry,
  type Logger,
  type ModelSignature,
  type VersionState,
  type RedisClient,
} from '@conveyor/shared';

/**
 * Deletes a catalogue field only if it still holds what the caller read (no worker re-announced it
 * since).
 */
const DELETE_IF_UNCHANGED = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0`;

/** What this worker says of one version it holds. */
export interface Announcement {
  signature: ModelSignature;
  state: VersionState;
  stateReason?: string | undefined;
}

/** Keeps a worker's model versions in the catalogue while it runs, one field per version. */
export interface Announcer {
  /** This worker's id in the catalogue (`host:pid:random`). */
  readonly worker: string;
  /** Announces a version (or its new state) now, and on every beat after. */
  set(announcement: Announcement): Promise<void>;
  /** Takes a version out of the catalogue now; clients are told at once. */
  remove(model: string, version: string): Promise<void>;
  /**
   * Stops the beats. The versions stay in the catalogue until they expire (MODEL_EXPIRY_MS), so
   * that a worker restarting (a rolling deploy) does not make clients refuse its models meanwhile:
   * their jobs wait in the queue for it.
   */
  stop(): void;
}

/**
 * Announces versions now and every CATALOGUE_HEARTBEAT_MS, each with the time of announcing by
 * the Redis server's clock, and deletes entries no worker has announced for `expiryMs` (a worker
 * that died), so that clients and readiness stop claiming them. A change of state is published
 * on the models channel, so clients drop their cached catalogue at once. Redis errors after the
 * first announcement are logged, not thrown: the next beat tries again.
 */
export async function startAnnouncing(options: {
  connection: RedisClient;
  prefix: string;
  worker: string;
  announcements: readonly Announcement[];
  expiryMs: number;
  log: Logger;
  /** Time between beats; CATALOGUE_HEARTBEAT_MS unless a test needs it shorter. */
  heartbeatMs?: number;
}): Promise<Announcer> {
  const { connection, expiryMs, log, worker } = options;
  const key = catalogueKey(options.prefix);
  const channel = modelsChannel(options.prefix);
  const held = new Map<string, Announcement>();
  const fieldOf = (a: Announcement) =>
    catalogueField(a.signature.name, a.signature.version, worker);
  for (const a of options.announcements) held.set(fieldOf(a), a);

  const entryOf = (a: Announcement, announcedAt: number): string => {
    const entry: CatalogueEntry = { ...a.signature, announcedAt, worker, state: a.state };
    if (a.stateReason !== undefined) entry.stateReason = a.stateReason;
    return JSON.stringify(entry);
  };

  // Stamped and judged by the Redis server's clock (see msFromRedisTime).
  const announce = async (announcedAt: number, only?: readonly Announcement[]) => {
    const list = only ?? [...held.values()];
    if (list.length === 0) return;
    const fields: Record<string, string> = {};
    for (const a of list) fields[fieldOf(a)] = entryOf(a, announcedAt);
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

  const now = async () => msFromRedisTime(await connection.time());
  const beat = async () => {
    const at = await now();
    await announce(at);
    await prune(at);
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

  return {
    worker,
    async set(announcement) {
      held.set(fieldOf(announcement), announcement);
      await announce(await now(), [announcement]);
      await connection.publish(channel, announcement.signature.name);
    },
    async remove(model, version) {
      const field = catalogueField(model, version, worker);
      held.delete(field);
      await connection.hdel(key, field);
      await connection.publish(channel, model);
    },
    stop() {
      clearInterval(timer);
    },
  };
}
