/**
 * The settings of `conveyor autoscale` (docs/cli.md), as its flags give them (text), checked and
 * turned into numbers in one pass; and the one line of `docker compose ps --format json` it reads.
 */
import { z } from 'zod';
import { ModelNameSchema } from './names.js';

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const positiveSeconds = (max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, 'expected a number of seconds')
    .transform(Number)
    .pipe(z.number().positive().max(max));

/** A compose service or project name, as Docker accepts one. */
const composeName = z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/i, 'expected a compose name');

/** Where the replicas run: compose services, or `conveyor worker` processes on this machine. */
export const SCALER_KINDS = ['compose', 'processes'] as const;

/** The flags of `conveyor autoscale`. Every default is here. */
export const AutoscaleOptionsSchema = z
  .object({
    /** The models whose backlog drives the replicas (comma-separated); each replica serves them all. */
    model: z
      .string()
      .transform((text) => text.split(',').map((name) => name.trim()))
      .pipe(z.array(ModelNameSchema).min(1)),
    /** Fewest replicas, even when idle (0 lets the workers go away). Default 0. */
    min: integer(0, 1000).default(0),
    /** Most replicas, however long the backlog. Default 4. */
    max: integer(1, 1000).default(4),
    /** Seconds of work waiting per live worker that one more replica is added above. Default 10. */
    targetBacklog: positiveSeconds(86_400).default(10),
    /** Seconds between two reads of the status. Default 5. */
    interval: positiveSeconds(3600).default(5),
    /** Seconds the backlog must have stayed low before a replica is removed. Default 60. */
    cooldown: z
      .string()
      .trim()
      .regex(/^\d+(\.\d+)?$/, 'expected a number of seconds')
      .transform(Number)
      .default(60),
    /** Most replicas added by one decision. Default 2. */
    stepUp: integer(1, 1000).default(2),
    /** Most replicas removed by one decision. Default 1. */
    stepDown: integer(1, 1000).default(1),
    /** Who runs the replicas. Default compose. */
    scaler: z.enum(SCALER_KINDS).default('compose'),
    /** The compose file (compose scaler). Default docker-compose.yml. */
    composeFile: z.string().min(1).default('docker-compose.yml'),
    /** The compose service of the workers (compose scaler). Default worker. */
    service: composeName.default('worker'),
    /** The compose project name; default compose's own (the file's folder). */
    project: composeName.optional(),
    /** Run the legacy `docker-compose` binary instead of `docker compose`. */
    legacyCompose: z.boolean().default(false),
    /** Decide and print, but never change the replicas. */
    dryRun: z.boolean().default(false),
  })
  .refine((o) => o.min <= o.max, { message: 'must not be above --max', path: ['min'] });
export type AutoscaleOptions = z.infer<typeof AutoscaleOptionsSchema>;

/**
 * One container of `docker compose ps --format json` (compose v2 prints a JSON array before 2.21,
 * one object per line after); only the fields the compose scaler reads.
 */
export const ComposeContainerSchema = z.looseObject({
  Service: z.string().optional(),
  State: z.string(),
});
export type ComposeContainer = z.infer<typeof ComposeContainerSchema>;
