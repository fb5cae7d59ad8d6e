import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  DEFAULTS,
  DRIFT_RETENTION_MS,
  DriftMetaSchema,
  ModelNameSchema,
  ModelVersionSchema,
  addSliceFields,
  driftMetaKey,
  driftSliceKey,
  driftSlicesKey,
  driftVersionsKey,
  parseOrThrow,
  scoreDrift,
  type DriftMeta,
  type DriftReport,
  type DriftVersion,
  type FeatureCounts,
} from '@conveyor/shared';

/** Which window and versions `client.drift()` reads. */
export const DriftQuerySchema = z
  .object({
    /** Only this version. Default: every version with a baseline. */
    version: ModelVersionSchema.optional(),
    /** The window, in ms, ending now; read in whole time slices (DRIFT_SLICE_MS). Default 1 hour. */
    windowMs: z.number().int().min(1).max(DRIFT_RETENTION_MS).default(DEFAULTS.driftWindowMs),
  })
  .strict();

export type DriftQuery = z.input<typeof DriftQuerySchema>;

/** The commands the read uses: a plain connection and a cluster both have them. */
type DriftRedis = Pick<Redis, 'smembers' | 'get' | 'zrangebyscore' | 'pipeline'>;

const byVersion = (a: string, b: string): number =>
  a.localeCompare(b, undefined, { numeric: true });

function parseMeta(text: string | null): DriftMeta | undefined {
  if (text === null) return undefined;
  try {
    const parsed = DriftMetaSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** One version's counts over the window, scored; undefined when its baseline is not published. */
async function readVersion(
  redis: DriftRedis,
  prefix: string,
  model: string,
  version: string,
  since: number,
): Promise<DriftVersion | undefined> {
  const meta = parseMeta(await redis.get(driftMetaKey(prefix, model, version)));
  if (!meta) return undefined;
  const starts = await redis.zrangebyscore(
    driftSlicesKey(prefix, model, version, meta.id),
    since,
    '+inf',
  );
  const counts: FeatureCounts[] = [];
  if (starts.length > 0) {
    const pipeline = redis.pipeline();
    for (const start of starts)
      pipeline.hgetall(driftSliceKey(prefix, model, version, meta.id, Number(start)));
    for (const [error, fields] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      addSliceFields(counts, meta, fields as Record<string, string>);
    }
  }
  return scoreDrift(version, meta, counts);
}

/**
 * Drift of a model's versions that have a baseline: the statistics workers added over the window,
 * scored per feature against the baseline (PSI, Kolmogorov–Smirnov, chi-square), and each
 * version's score, its largest PSI. A model without baselines has no versions in the report.
 */
export async function readDrift(
  redis: DriftRedis,
  prefix: string,
  model: string,
  query: DriftQuery = {},
): Promise<DriftReport> {
  const name = parseOrThrow(ModelNameSchema, model, 'model');
  const { version, windowMs } = parseOrThrow(DriftQuerySchema, query, 'drift query');
  const since = Date.now() - windowMs;
  const names = (await redis.smembers(driftVersionsKey(prefix, name)))
    .filter((v) => version === undefined || v === version)
    .sort(byVersion);
  const versions: DriftVersion[] = [];
  for (const v of names) {
    const read = await readVersion(redis, prefix, name, v, since);
    if (read) versions.push(read);
  }
  return { model: name, windowMs, versions };
}
