import { Queue } from 'bullmq';
import {
  ConveyorError,
  DEFAULT_ALIAS,
  DEFAULT_MODEL_EXPIRY_MS,
  ModelNameSchema,
  ModelVersionSchema,
  parseOrThrow,
  redisOptions,
  rescanChannel,
  silentLogger,
  targetVersions,
  throttledErrorLog,
  type AliasChange,
  type AliasShadows,
  type AliasTarget,
  type ComparisonReport,
  type Logger,
  type ModelAliases,
  redisUnavailable,
  queuePrefix,
  createRedisClient,
  targetAddress,
  type RedisClient,
} from '@conveyor/shared';
import { createAliasStore, rolloutTarget, type ChangeOptions } from './aliases.js';
import { createCatalogue, withLiveWorkers, type LiveVersion } from './catalogue.js';
import { readComparisons, type CompareOptions } from './comparisons.js';
import {
  ClientOptionsSchema,
  redisConnectionOptions,
  withDevState,
  type ClientOptions,
} from './options.js';

/** What GET /v1/models/{name} and `conveyor models status` show of a model. */
export interface ModelStatus {
  name: string;
  /** Every announced version, oldest first, with its live workers and state. */
  versions: LiveVersion[];
  aliases: ModelAliases;
  /** The version unpinned requests go to when `production` is not set (the newest), else undefined. */
  following: string | undefined;
  /** The routing rule, in words. */
  rule: string;
  /** Alias -> its shadow version (a copy of the alias's traffic, compared, never returned). */
  shadows: AliasShadows;
  /** Shadow and replay comparisons of the model's version pairs (see ModelAdmin.compare). */
  comparisons: ComparisonReport[];
}

/** Changes where a model's traffic goes, and reads its state: the admin side of the lifecycle. */
export interface ModelAdmin {
  status(model: string): Promise<ModelStatus>;
  setAlias(
    model: string,
    alias: string,
    target: AliasTarget,
    how?: ChangeOptions,
  ): Promise<AliasChange>;
  removeAlias(model: string, alias: string, how?: ChangeOptions): Promise<AliasChange>;
  /** Sends `weight` percent of production's traffic to `version`, the rest where it went. */
  rollout(model: string, version: string, weight: number, by?: string): Promise<AliasChange>;
  /** Sends all of production's traffic to `version` (default: the newest one production names). */
  promote(model: string, version?: string, by?: string): Promise<AliasChange>;
  /** Puts production back where it was before the newest version it names was rolled out. */
  rollback(model: string, by?: string): Promise<AliasChange>;
  history(model: string, limit?: number): Promise<AliasChange[]>;
  /** Copies the alias's traffic to `version` at the lowest priority, for comparison only. */
  setShadow(model: string, alias: string, version: string, by?: string): Promise<AliasChange>;
  /** Stops an alias's shadow (ERR_ALIAS_NOT_FOUND when it has none). */
  removeShadow(model: string, alias: string, by?: string): Promise<AliasChange>;
  /** The model's shadow and replay comparison reports, one per version pair. */
  compare(model: string, options?: CompareOptions): Promise<ComparisonReport[]>;
  /** Asks every worker to rescan its model repository now; resolves with how many listen. */
  requestRescan(): Promise<number>;
  close(): Promise<void>;
}

/** The rule of unpinned traffic, as the docs and GET /v1/models/{name} state it. */
export const ROUTING_RULE =
  'Unpinned requests go to the production alias. Until production is set it follows the newest version a worker serves; once set, a newly published version takes no unpinned traffic until it is rolled out or promoted.';

/**
 * Connects to Redis for alias changes and model status (the producer's admin routes, the CLI).
 * Takes the queue client's connection options; rejects with ERR_QUEUE_UNAVAILABLE when Redis
 * does not answer.
 */
export async function createModelAdmin(options: ClientOptions = {}): Promise<ModelAdmin> {
  const config = parseOrThrow(ClientOptionsSchema, withDevState(options).options, 'client options');
  const connection = redisConnectionOptions(config);
  const redis = createRedisClient(connection, {
    ...redisOptions('producer', `conveyor-admin.${config.prefix}`),
    lazyConnect: true,
  });
  const log = config.logger ?? silentLogger();
  redis.on('error', throttledErrorLog(log, 'redis connection error'));
  try {
    await redis.connect();
  } catch (cause) {
    redis.disconnect();
    throw redisUnavailable(targetAddress(connection), cause);
  }
  return modelAdminOn(redis, config.prefix, log);
}

/** The admin operations over an open connection, which `close()` quits. */
export function modelAdminOn(redis: RedisClient, prefix: string, log: Logger): ModelAdmin {
  const aliases = createAliasStore(redis, prefix, 0);
  const catalogue = createCatalogue(redis, prefix, 0, DEFAULT_MODEL_EXPIRY_MS);
  const name = (model: string) => parseOrThrow(ModelNameSchema, model, 'model name');
  const workersOf = async (queue: string): Promise<number> => {
    // Read-only: skipMetasUpdate keeps the queue's metadata (its event-stream cap) as workers set it.
    const reader = new Queue(queue, {
      connection: redis,
      prefix: queuePrefix(prefix, queue),
      skipMetasUpdate: true,
    });
    try {
      return await reader.getWorkersCount();
    } finally {
      await reader.close();
    }
  };

  /** Production's target now: as set, or the newest announced version it follows. */
  async function production(model: string): Promise<{ target: AliasTarget; set: boolean }> {
    const set = (await aliases.get(model))[DEFAULT_ALIAS];
    if (set) return { target: set, set: true };
    // Throws ERR_MODEL_NOT_FOUND when no worker serves a version of the model.
    const newest = (await catalogue.versions(model)).at(-1);
    if (newest === undefined)
      throw new ConveyorError('ERR_MODEL_NOT_FOUND', `no worker serves "${model}"`);
    return { target: { [newest.version]: 100 }, set: false };
  }

  const admin: ModelAdmin = {
    async status(model) {
      const announced = (await catalogue.list()).filter((v) => v.name === name(model));
      const versions = await withLiveWorkers(announced, workersOf);
      const table = await aliases.get(model);
      if (versions.length === 0 && Object.keys(table).length === 0) await catalogue.versions(model);
      const taking = versions.filter((v) => v.state === 'ready' || v.state === 'degraded');
      return {
        name: model,
        versions,
        aliases: table,
        following: table[DEFAULT_ALIAS] ? undefined : taking.at(-1)?.version,
        rule: ROUTING_RULE,
        shadows: await aliases.shadows(model),
        comparisons: await readComparisons(redis, prefix, model),
      };
    },
    setAlias: (model, alias, target, how) => aliases.set(name(model), alias, target, how),
    removeAlias: (model, alias, how) => aliases.remove(name(model), alias, how),
    async rollout(model, version, weight, by) {
      parseOrThrow(ModelVersionSchema, version, 'version');
      const current = await production(name(model));
      // Rolling out from an unset production first pins it where it was, so that a rollback
      // has a target to return to.
      if (!current.set)
        await aliases.set(model, DEFAULT_ALIAS, current.target, { action: 'set', ...byOf(by) });
      const target = rolloutTarget(current.target, version, weight);
      log.info({ model, version, weight }, 'rollout');
      return aliases.set(model, DEFAULT_ALIAS, target, { action: 'rollout', ...byOf(by) });
    },
    async promote(model, version, by) {
      const current = await production(name(model));
      const chosen = version ?? targetVersions(current.target).at(-1);
      parseOrThrow(ModelVersionSchema, chosen, 'version');
      if (!current.set)
        await aliases.set(model, DEFAULT_ALIAS, current.target, { action: 'set', ...byOf(by) });
      return aliases.set(
        model,
        DEFAULT_ALIAS,
        { [chosen as string]: 100 },
        {
          action: 'promote',
          ...byOf(by),
        },
      );
    },
    async rollback(model, by) {
      const current = (await aliases.get(name(model)))[DEFAULT_ALIAS];
      const back = current && rollbackTarget(await aliases.history(model), current);
      if (!back) {
        throw new ConveyorError(
          'ERR_VALIDATION',
          `model "${model}" has no earlier production target without version ${current ? targetVersions(current).at(-1) : '(production is not set)'} to roll back to`,
          { details: { model } },
        );
      }
      return aliases.set(model, DEFAULT_ALIAS, back, { action: 'rollback', ...byOf(by) });
    },
    history: (model, limit) => aliases.history(name(model), limit),
    setShadow: (model, alias, version, by) =>
      aliases.setShadow(name(model), alias, version, byOf(by)),
    removeShadow: (model, alias, by) => aliases.setShadow(name(model), alias, undefined, byOf(by)),
    compare: (model, options) => readComparisons(redis, prefix, model, options),
    requestRescan: () => redis.publish(rescanChannel(prefix), 'rescan'),
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
  return admin;
}

const byOf = (by: string | undefined): { by?: string } => (by === undefined ? {} : { by });

/**
 * The newest earlier production target that does not name the newest version production names
 * now: after a rollout or a promote of version 3, the target before 3 took any traffic.
 */
function rollbackTarget(
  history: readonly AliasChange[],
  current: AliasTarget,
): AliasTarget | undefined {
  const newest = targetVersions(current).at(-1) as string;
  for (const change of history) {
    if (change.alias !== DEFAULT_ALIAS || !change.from) continue;
    if (!targetVersions(change.from).includes(newest)) return change.from;
  }
  return undefined;
}

/**
 * One warning per version of `target` that no worker serves (ready or degraded) now: an alias may
 * name a version published a moment later, and meanwhile sends its share to the other versions it
 * names (ERR_MODEL_VERSION_NOT_FOUND when none is served).
 */
export function unservedWarnings(
  model: string,
  target: AliasTarget | undefined,
  status: Pick<ModelStatus, 'versions'> | undefined,
): string[] {
  if (target === undefined) return [];
  const serving = new Set(
    (status?.versions ?? [])
      .filter((v) => v.state === 'ready' || v.state === 'degraded')
      .map((v) => v.version),
  );
  return targetVersions(target)
    .filter((v) => !serving.has(v))
    .map((v) => `no worker serves version ${v} of "${model}" now`);
}
