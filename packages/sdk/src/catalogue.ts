import type { Redis } from 'ioredis';
import {
  ConveyorError,
  ModelSignatureSchema,
  catalogueKey,
  compareVersions,
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

export function createCatalogue(redis: Redis, prefix: string, ttlMs: number): Catalogue {
  let cached: { at: number; models: Map<string, ModelSignature[]> } | undefined;

  async function load(force: boolean): Promise<Map<string, ModelSignature[]>> {
    if (!force && cached && Date.now() - cached.at < ttlMs) return cached.models;
    const raw = await redis.hgetall(catalogueKey(prefix));
    const models = new Map<string, ModelSignature[]>();
    for (const value of Object.values(raw)) {
      let parsedJson: unknown;
      try {
        parsedJson = JSON.parse(value);
      } catch {
        continue; // An entry nobody can read is no model; the worker that wrote it will rewrite it.
      }
      const parsed = ModelSignatureSchema.safeParse(parsedJson);
      if (!parsed.success) continue;
      const list = models.get(parsed.data.name) ?? [];
      list.push(parsed.data);
      list.sort((a, b) => compareVersions(a.version, b.version));
      models.set(parsed.data.name, list);
    }
    cached = { at: Date.now(), models };
    return models;
  }

  return {
    async signature(model, version) {
      let versions = (await load(false)).get(model);
      const has = (list: ModelSignature[] | undefined) =>
        list !== undefined && (version === undefined || list.some((s) => s.version === version));
      // A model just deployed is not in a cached copy yet: look once more before refusing.
      if (!has(versions)) versions = (await load(true)).get(model);
      if (!versions || versions.length === 0) {
        throw new ConveyorError(
          'ERR_MODEL_NOT_FOUND',
          `no worker has announced a model named "${model}"`,
          {
            details: { model },
          },
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
      return [...(await load(false)).values()].flat();
    },
  };
}
