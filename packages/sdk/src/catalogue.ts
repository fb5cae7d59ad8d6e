import type { Redis } from 'ioredis';
import {
  CatalogueEntrySchema,
  ConveyorError,
  catalogueKey,
  compareVersions,
  msFromRedisTime,
  type ModelSignature,
} from '@conveyor/shared';

/**
 * The models workers have announced, read from Redis and reused for a short time, so that the
 * client can refuse an unknown model or a mismatched tensor before anything is enqueued.
 */
export interface Catalogue {
  /** The signature of a version, or of the newest version when none is given. */
  signature(model: string, version?: string): Promise<ModelSignature>;
  /** Every announced model version. */
  list(): Promise<ModelSignature[]>;
}

/** The hash field of one model version. */
export const catalogueField = (model: string, version: string): string => `${model}@${version}`;

/**
 * @param ttlMs how long a copy read from Redis is reused
 * @param expiryMs a version whose last announcement is older than this is no longer served
 */
export function createCatalogue(
  redis: Redis,
  prefix: string,
  ttlMs: number,
  expiryMs: number,
): Catalogue {
  let cached:
    { at: number; models: Map<string, ModelSignature[]>; expired: Map<string, number> } | undefined;

  async function load(force: boolean): Promise<NonNullable<typeof cached>> {
    if (!force && cached && Date.now() - cached.at < ttlMs) return cached;
    // Entries are judged by the Redis server's clock, which stamped them (see msFromRedisTime).
    const replies = await redis.pipeline().hgetall(catalogueKey(prefix)).time().exec();
    const [read, time] = replies ?? [];
    if (!read || !time) throw new Error('Redis gave no reply to HGETALL and TIME');
    if (read[0]) throw read[0];
    if (time[0]) throw time[0];
    const raw = read[1] as Record<string, string>;
    const now = msFromRedisTime(time[1]);
    const models = new Map<string, ModelSignature[]>();
    /** Model name -> the newest announcement of a version that expired. */
    const expired = new Map<string, number>();
    for (const value of Object.values(raw)) {
      let parsedJson: unknown;
      try {
        parsedJson = JSON.parse(value);
      } catch {
        continue; // An entry nobody can read is no model; the worker that wrote it will rewrite it.
      }
      const parsed = CatalogueEntrySchema.safeParse(parsedJson);
      if (!parsed.success) continue;
      const { announcedAt, ...signature } = parsed.data;
      if (announcedAt !== undefined && now - announcedAt > expiryMs) {
        expired.set(signature.name, Math.max(expired.get(signature.name) ?? 0, announcedAt));
        continue;
      }
      const list = models.get(signature.name) ?? [];
      list.push(signature);
      list.sort((a, b) => compareVersions(a.version, b.version));
      models.set(signature.name, list);
    }
    cached = { at: Date.now(), models, expired };
    return cached;
  }

  return {
    async signature(model, version) {
      let loaded = await load(false);
      let versions = loaded.models.get(model);
      const has = (list: ModelSignature[] | undefined) =>
        list !== undefined && (version === undefined || list.some((s) => s.version === version));
      // A model just deployed is not in a cached copy yet: look once more before refusing.
      if (!has(versions)) {
        loaded = await load(true);
        versions = loaded.models.get(model);
      }
      if (!versions || versions.length === 0) {
        const lastSeen = loaded.expired.get(model);
        throw new ConveyorError(
          'ERR_MODEL_NOT_FOUND',
          lastSeen === undefined
            ? `no worker has announced a model named "${model}"`
            : `no worker has announced model "${model}" since ${new Date(lastSeen).toISOString()} (MODEL_EXPIRY_MS ${expiryMs})`,
          { details: { model } },
        );
      }
      if (version === undefined) return versions[versions.length - 1] as ModelSignature;
      const match = versions.find((s) => s.version === version);
      if (!match) {
        throw new ConveyorError(
          'ERR_MODEL_VERSION_NOT_FOUND',
          `model "${model}" has no version ${version}; announced versions: ${versions.map((s) => s.version).join(', ')}`,
          { details: { model, version } },
        );
      }
      return match;
    },
    async list() {
      return [...(await load(false)).models.values()].flat();
    },
  };
}
