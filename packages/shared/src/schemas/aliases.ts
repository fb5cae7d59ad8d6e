import { z } from 'zod';
import { ModelVersionSchema, compareVersions } from './names.js';

/**
 * Alias names: lower-case words that cannot be mistaken for a version (`production`, `canary`,
 * `legacy`). A request names a version, an alias, or nothing (the `production` alias).
 */
export const AliasNameSchema = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, {
  message:
    'alias names are 1-32 characters of a-z, 0-9, "-" and "_", starting with a letter (e.g. "canary")',
});

/** The alias an unpinned request follows. */
export const DEFAULT_ALIAS = 'production';

/** What a request may name instead of a version: a version ("2") or an alias ("canary"). */
export const VersionRefSchema = z.union([ModelVersionSchema, AliasNameSchema], {
  error: 'a version is a positive integer such as "2", an alias a name such as "canary"',
});

/**
 * Where an alias points: one version (`{ "2": 100 }`) or several with weights
 * (`{ "2": 5, "1": 95 }`). Weights are non-negative integers; at least one is positive.
 */
export const AliasTargetSchema = z
  .record(ModelVersionSchema, z.number().int().min(0).max(1_000_000))
  .refine((target) => Object.keys(target).length > 0 && Object.keys(target).length <= 16, {
    message: 'an alias names 1 to 16 versions',
  })
  .refine((target) => Object.values(target).some((w) => w > 0), {
    message: 'at least one weight is positive',
  });

export type AliasTarget = z.infer<typeof AliasTargetSchema>;

/** Every alias of one model: alias name -> target. */
export const ModelAliasesSchema = z.record(AliasNameSchema, AliasTargetSchema);

export type ModelAliases = z.infer<typeof ModelAliasesSchema>;

/**
 * Every shadow of one model: alias name -> the version that gets a copy of the alias's traffic at
 * the lowest priority (its answers are compared, never returned). Kept beside the aliases.
 */
export const AliasShadowsSchema = z.record(AliasNameSchema, ModelVersionSchema);

export type AliasShadows = z.infer<typeof AliasShadowsSchema>;

/** One change of an alias, as kept in the model's bounded history. */
export const AliasChangeSchema = z
  .object({
    /** Epoch ms, by the Redis server's clock. */
    at: z.number().int().nonnegative(),
    alias: AliasNameSchema,
    /** Where the alias pointed before; absent when it did not exist. */
    from: AliasTargetSchema.optional(),
    /** Where it points now; absent when it was deleted. */
    to: AliasTargetSchema.optional(),
    /** What asked for the change: `rollout`, `promote`, `rollback`, `set`, `delete`, `shadow`. */
    action: z.enum(['set', 'delete', 'rollout', 'promote', 'rollback', 'shadow']),
    /** The alias's shadow version before the change, when it had one and the change touched it. */
    shadowFrom: ModelVersionSchema.optional(),
    /** Its shadow version after a `shadow` change; absent when the shadow was removed. */
    shadowTo: ModelVersionSchema.optional(),
    /** Who asked for it: an API key's id, `cli@host`, ... */
    by: z.string().max(200).optional(),
  })
  .strict();

export type AliasChange = z.infer<typeof AliasChangeSchema>;

/** The versions a target names with a positive weight, oldest first. */
export function targetVersions(target: AliasTarget): string[] {
  return Object.entries(target)
    .filter(([, weight]) => weight > 0)
    .map(([version]) => version)
    .sort(compareVersions);
}

/**
 * Chooses one version of a target by weight, among `available` versions only (those a worker
 * serves); undefined when none of the target's versions is available. `random` is in [0, 1).
 */
export function pickVersion(
  target: AliasTarget,
  available: ReadonlySet<string>,
  random: number = Math.random(),
): string | undefined {
  const choices = Object.entries(target).filter(([v, w]) => w > 0 && available.has(v));
  const total = choices.reduce((sum, [, w]) => sum + w, 0);
  let point = random * total;
  for (const [version, weight] of choices) {
    if (point < weight) return version;
    point -= weight;
  }
  return choices.at(-1)?.[0];
}

/** Formats a target for people: `2` for a single version, `2:5% 1:95%` for a split. */
export function describeTarget(target: AliasTarget): string {
  const versions = targetVersions(target);
  if (versions.length === 1) return versions[0] as string;
  const total = versions.reduce((sum, v) => sum + (target[v] ?? 0), 0);
  return [...versions]
    .reverse()
    .map((v) => `${v}:${Math.round(((target[v] ?? 0) / total) * 1000) / 10}%`)
    .join(' ');
}
