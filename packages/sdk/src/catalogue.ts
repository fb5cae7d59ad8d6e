import {
  CatalogueEntrySchema,
  WORKER_SILENT_MS,
  ConveyorError,
  catalogueKey,
  compareVersions,
  msFromRedisTime,
  notAnnouncedHint,
  queueName,
  workerBeatsKey,
  type ModelSignature,
  type VersionState,
  type RedisClient,
  clientUrl,
} from '@conveyor/shared';

/** An announced model version: its signature and its state. */
export type AnnouncedVersion = ModelSignature & {
  /**
   * The best state any of its workers reports: ready, then degraded (its warm-up failed;
   * `stateReason` says why), loading, draining. Only ready and degraded versions take new jobs.
   */
  state: VersionState;
  stateReason?: string;
  /**
   * @internal How many of the workers that announced it beat within WORKER_SILENT_MS (see
   * workerBeatsKey); undefined when an entry names no worker (written by hand or by hand-copying).
   */
  beating?: number;
};

/** The signature part of a catalogue entry or announced version. */
const signatureOf = (from: ModelSignature): ModelSignature => ({
  name: from.name,
  version: from.version,
  inputs: from.inputs,
  outputs: from.outputs,
});

/** States in order of preference: a version is in the best state one of its workers reports. */
const RANK: Record<VersionState, number> = { ready: 0, degraded: 1, loading: 2, draining: 3 };

/** Whether new jobs may go to a version in this state. */
export const takesJobs = (state: VersionState): boolean => RANK[state] <= RANK.degraded;

/**
 * The models workers have announced, read from Redis and reused for a short time, so that the
 * client can refuse an unknown model or a mismatched tensor before anything is enqueued.
 */
export interface Catalogue {
  /** The signature of a version, or of the newest version when none is given. */
  signature(model: string, version?: string): Promise<ModelSignature>;
  /** The announced versions of a model, oldest first (ERR_MODEL_NOT_FOUND when none is). */
  versions(model: string): Promise<AnnouncedVersion[]>;
  /**
   * Every announced model version, in any state (loading and draining ones too), read from Redis
   * now (refreshing the cached copy): what it says is at most one read old.
   */
  list(): Promise<AnnouncedVersion[]>;
  /** Drops the cached copy, so the next call reads Redis. */
  forget(): void;
  /**
   * versions() from the cached copy when it is fresh and has the model, else undefined: no read,
   * no promise, for the path every job takes.
   */
  versionsNow(model: string): AnnouncedVersion[] | undefined;
  /** signature() of a version from the cached copy, as versionsNow. */
  signatureNow(model: string, version: string): ModelSignature | undefined;
}

interface Loaded {
  at: number;
  /** Versions that take new jobs (ready or degraded), by model. */
  models: Map<string, AnnouncedVersion[]>;
  /** Every announced version, whatever its state, by model. */
  all: Map<string, AnnouncedVersion[]>;
  /** Model name -> the newest announcement of a version that expired. */
  expired: Map<string, number>;
}

/**
 * Folds the per-worker entries of the catalogue hash into versions, with how many of their workers
 * beat lately (`beats`: worker id -> its last beat, by Redis's clock).
 */
function fold(
  raw: Record<string, string>,
  beats: ReadonlyMap<string, number>,
  now: number,
  expiryMs: number,
): Omit<Loaded, 'at'> {
  const byVersion = new Map<string, AnnouncedVersion>();
  // Workers of each version that beat within WORKER_SILENT_MS; null once an entry names no worker.
  const beating = new Map<string, number | null>();
  const expired = new Map<string, number>();
  for (const value of Object.values(raw)) {
    let json: unknown;
    try {
      json = JSON.parse(value);
    } catch {
      continue; // An entry nobody can read is no model; the worker that wrote it will rewrite it.
    }
    const parsed = CatalogueEntrySchema.safeParse(json);
    if (!parsed.success) continue;
    const { announcedAt, state, stateReason, worker } = parsed.data;
    const signature = signatureOf(parsed.data);
    if (announcedAt !== undefined && now - announcedAt > expiryMs) {
      expired.set(signature.name, Math.max(expired.get(signature.name) ?? 0, announcedAt));
      continue;
    }
    const key = `${signature.name}@${signature.version}`;
    const current = state ?? 'ready';
    const before = beating.get(key) ?? 0;
    const beat = worker === undefined ? undefined : (beats.get(worker) ?? 0);
    const live = beat !== undefined && now - beat <= WORKER_SILENT_MS ? 1 : 0;
    beating.set(key, before === null || beat === undefined ? null : before + live);
    const seen = byVersion.get(key);
    if (seen && RANK[seen.state] <= RANK[current]) continue;
    const version: AnnouncedVersion = { ...signature, state: current };
    if (stateReason !== undefined) version.stateReason = stateReason;
    byVersion.set(key, version);
  }
  for (const [key, version] of byVersion) {
    const count = beating.get(key);
    if (typeof count === 'number') version.beating = count;
  }
  const all = new Map<string, AnnouncedVersion[]>();
  for (const version of byVersion.values()) {
    const list = all.get(version.name) ?? [];
    list.push(version);
    list.sort((a, b) => compareVersions(a.version, b.version));
    all.set(version.name, list);
  }
  const models = new Map<string, AnnouncedVersion[]>();
  for (const [name, list] of all) {
    const serving = list.filter((v) => takesJobs(v.state));
    if (serving.length > 0) models.set(name, serving);
  }
  return { models, all, expired };
}

/**
 * @param ttlMs how long a copy read from Redis is reused
 * @param expiryMs a version whose last announcement is older than this is no longer served
 */
export function createCatalogue(
  redis: RedisClient,
  prefix: string,
  ttlMs: number,
  expiryMs: number,
): Catalogue {
  let cached: Loaded | undefined;
  // Named in errors: the Redis this client asks, never its credentials.
  const redisUrl = clientUrl(redis);

  async function load(force: boolean): Promise<Loaded> {
    if (!force && cached && Date.now() - cached.at < ttlMs) return cached;
    // Entries are judged by the Redis server's clock, which stamped them (see msFromRedisTime).
    const replies = await redis
      .pipeline()
      .hgetall(catalogueKey(prefix))
      .zrange(workerBeatsKey(prefix), '0', '-1', 'WITHSCORES')
      .time()
      .exec();
    const [read, beatReply, time] = replies ?? [];
    if (!read || !beatReply || !time) throw new Error('Redis gave no reply to HGETALL and TIME');
    for (const [error] of [read, beatReply, time]) if (error) throw error;
    const now = msFromRedisTime(time[1]);
    const flat = beatReply[1] as string[];
    const beats = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) beats.set(flat[i] ?? '', Number(flat[i + 1]));
    cached = { at: Date.now(), ...fold(read[1] as Record<string, string>, beats, now, expiryMs) };
    return cached;
  }

  function versionsNow(model: string): AnnouncedVersion[] | undefined {
    return cached && Date.now() - cached.at < ttlMs ? cached.models.get(model) : undefined;
  }

  /** The model's versions; a model just deployed is not in a cached copy yet, so look once more. */
  async function versionsOf(model: string, version?: string): Promise<AnnouncedVersion[]> {
    let loaded = await load(false);
    let versions = loaded.models.get(model);
    const has = (list: AnnouncedVersion[] | undefined) =>
      list !== undefined && (version === undefined || list.some((s) => s.version === version));
    if (!has(versions)) {
      loaded = await load(true);
      versions = loaded.models.get(model);
    }
    if (!versions || versions.length === 0) {
      const lastSeen = loaded.expired.get(model);
      const where = notAnnouncedHint(redisUrl, prefix);
      throw new ConveyorError(
        'ERR_MODEL_NOT_FOUND',
        lastSeen === undefined
          ? `no worker has announced a model named "${model}" ${where}`
          : `no worker has announced model "${model}" since ${new Date(lastSeen).toISOString()} (MODEL_EXPIRY_MS ${expiryMs}) ${where}`,
        { details: { model, redis: redisUrl, prefix } },
      );
    }
    return versions;
  }

  return {
    async signature(model, version) {
      const versions = await versionsOf(model, version);
      const match =
        version === undefined ? versions.at(-1) : versions.find((s) => s.version === version);
      if (!match) {
        throw new ConveyorError(
          'ERR_MODEL_VERSION_NOT_FOUND',
          `model "${model}" has no version ${version}; announced versions: ${versions.map((s) => s.version).join(', ')}`,
          { details: { model, version } },
        );
      }
      return signatureOf(match);
    },
    versions: (model) => versionsOf(model),
    async list() {
      return [...(await load(true)).all.values()].flat();
    },
    forget() {
      cached = undefined;
    },
    versionsNow,
    signatureNow(model, version) {
      const match = versionsNow(model)?.find((s) => s.version === version);
      return match && signatureOf(match);
    },
  };
}

/** An announced version with the number of worker processes serving it now. */
export type LiveVersion = AnnouncedVersion & { workers: number };

/**
 * The versions with their live workers, by BullMQ's count of the connections to each version's
 * queue (`workersOf`): a worker that stopped leaves its announcement until it expires, but no
 * connection. A version none of whose workers beat within WORKER_SILENT_MS has none either: a
 * frozen worker keeps its connections but stops beating.
 */
export function withLiveWorkers(
  versions: readonly AnnouncedVersion[],
  workersOf: (queue: string) => Promise<number>,
): Promise<LiveVersion[]> {
  return Promise.all(
    versions.map(async ({ beating, ...v }) => ({
      ...v,
      workers: beating === 0 ? 0 : await workersOf(queueName(v.name, v.version)),
    })),
  );
}
