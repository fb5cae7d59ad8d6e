import { Readable } from 'node:stream';
import { z } from 'zod';
import {
  AliasNameSchema,
  AliasTargetSchema,
  ComparisonReportSchema,
  ModelNameSchema,
  ModelVersionSchema,
} from '@conveyor/shared';
import { MetadataTensorSchema } from '../oip/schemas.js';

/**
 * Bodies of the model lifecycle routes under `/v1/models/{name}`: status, aliases, rollouts and
 * uploads of new versions.
 */

export const AdminModelParamsSchema = z.object({ name: ModelNameSchema }).strict();

export const AliasParamsSchema = z
  .object({ name: ModelNameSchema, alias: AliasNameSchema })
  .strict();

/** Where an alias points, as weights, as percentages and in words. */
export const AliasViewSchema = z
  .object({
    /** Version -> weight, as set (`{ "2": 5, "1": 95 }`). */
    versions: z.record(z.string(), z.number()),
    /** Version -> share of the traffic in percent, to one decimal. */
    percent: z.record(z.string(), z.number()),
    /** `2` for one version, `2:5% 1:95%` for a split. */
    description: z.string(),
  })
  .strict();

export type AliasView = z.infer<typeof AliasViewSchema>;

/** One entry of a model's alias history. */
export const AliasChangeBodySchema = z
  .object({
    /** When the change was made (the Redis server's clock), ISO 8601. */
    at: z.string(),
    alias: z.string(),
    action: z.enum(['set', 'delete', 'rollout', 'promote', 'rollback', 'shadow']),
    /** Where the alias pointed before; absent when it did not exist. */
    from: z.record(z.string(), z.number()).optional(),
    /** Where it points now; absent when it was deleted. */
    to: z.record(z.string(), z.number()).optional(),
    /** The alias's shadow version before a change that touched it. */
    shadowFrom: z.string().optional(),
    /** Its shadow version after a `shadow` change; absent once removed. */
    shadowTo: z.string().optional(),
    /** Who asked: the API key's name, or `cli@host` for the command line. */
    by: z.string().optional(),
  })
  .strict();

export type AliasChangeBody = z.infer<typeof AliasChangeBodySchema>;

export const VersionStatusSchema = z
  .object({
    version: z.string(),
    /** Only ready and degraded versions take new jobs. */
    state: z.enum(['loading', 'ready', 'degraded', 'draining']),
    state_reason: z.string().optional(),
    /** Live workers that announce the version. */
    workers: z.number().int().nonnegative(),
    inputs: z.array(MetadataTensorSchema),
    outputs: z.array(MetadataTensorSchema),
  })
  .strict();

/** `GET /v1/models/{name}`. */
export const ModelStatusBodySchema = z
  .object({
    name: z.string(),
    /** Every announced version, oldest first. */
    versions: z.array(VersionStatusSchema),
    aliases: z.record(z.string(), AliasViewSchema),
    /** Where unpinned requests go now: production's target, or the version they follow. */
    unpinned: AliasViewSchema.nullable(),
    /** The version unpinned requests follow while production is not set; null once it is. */
    following: z.string().nullable(),
    /** The routing rule of unpinned requests, in words. */
    rule: z.string(),
    /** The latest alias changes, newest first. */
    history: z.array(AliasChangeBodySchema),
    /** Alias -> its shadow version (gets a copy of the alias's traffic, compared, never returned). */
    shadows: z.record(z.string(), z.string()),
    /** Shadow and replay comparisons, one per version pair (see docs/lifecycle.md). */
    comparisons: z.array(ComparisonReportSchema),
  })
  .strict();

export type ModelStatusBody = z.infer<typeof ModelStatusBodySchema>;

/** `PUT /v1/models/{name}/aliases/{alias}/shadow`. */
export const SetShadowBodySchema = z.object({ version: ModelVersionSchema }).strict();

/** `GET /v1/models/{name}/comparisons`. */
export const CompareQuerySchema = z
  .object({
    serving: ModelVersionSchema.optional(),
    candidate: ModelVersionSchema.optional(),
    source: z.enum(['shadow', 'replay']).optional(),
  })
  .strict();

export const ComparisonsBodySchema = z
  .object({ name: z.string(), comparisons: z.array(ComparisonReportSchema) })
  .strict();

/** `PUT /v1/models/{name}/aliases/{alias}`: weights, or one version. */
export const SetAliasBodySchema = z.union([
  z.object({ versions: AliasTargetSchema }).strict(),
  z.object({ version: ModelVersionSchema }).strict(),
]);

export const RolloutBodySchema = z
  .object({
    version: ModelVersionSchema,
    /** Percent of production's traffic the version gets; the rest keeps its proportions. */
    weight: z.number().int().min(0).max(100),
  })
  .strict();

export const PromoteBodySchema = z
  .object({
    /** Default: the newest version production names. */
    version: ModelVersionSchema.optional(),
  })
  .strict()
  // A POST without a body (fastify gives null): promote the newest version production names.
  .nullish();

/** The answer to every alias change. */
export const AliasChangedSchema = z
  .object({
    name: z.string(),
    alias: z.string(),
    /** Where the alias points now; null once deleted. */
    target: AliasViewSchema.nullable(),
    change: AliasChangeBodySchema,
    /** Versions the alias names that no worker serves now (requests for them would wait). */
    warnings: z.array(z.string()),
  })
  .strict();

export type AliasChanged = z.infer<typeof AliasChangedSchema>;

export const HistoryQuerySchema = z
  .object({ limit: z.coerce.number().int().min(1).max(200).default(50) })
  .strict();

export const HistoryBodySchema = z
  .object({ name: z.string(), history: z.array(AliasChangeBodySchema) })
  .strict();

export const UploadQuerySchema = z
  .object({
    /** Default: one more than the newest version on disk or announced. */
    version: ModelVersionSchema.optional(),
  })
  .strict();

/** The raw ONNX file; the route reads it as a stream. */
export const UploadBodySchema = z
  .custom<Readable>((body) => body instanceof Readable, {
    message: 'send the ONNX file as the body, with content-type: application/octet-stream',
  })
  .meta({ type: 'string', format: 'binary', description: 'the ONNX file' });

/** 201 to an upload. */
export const VersionPublishedSchema = z
  .object({
    name: z.string(),
    version: z.string(),
    /** The model file, relative to the model repository. */
    path: z.string(),
    inputs: z.array(MetadataTensorSchema),
    outputs: z.array(MetadataTensorSchema),
    /** Where production points now; null while it is not set (unpinned requests follow the newest). */
    production: AliasViewSchema.nullable(),
    /** True when this upload pinned production to the version unpinned requests followed. */
    pinned: z.boolean(),
    /** Workers that heard the request to rescan the repository now (others find it on their own). */
    notified: z.number().int().nonnegative(),
    warnings: z.array(z.string()),
  })
  .strict();

export type VersionPublished = z.infer<typeof VersionPublishedSchema>;
