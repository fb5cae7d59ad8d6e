import {
  AliasChangeSchema,
  AliasNameSchema,
  AliasShadowsSchema,
  AliasTargetSchema,
  ConveyorError,
  DEFAULT_ALIAS,
  ModelAliasesSchema,
  ModelNameSchema,
  ModelVersionSchema,
  aliasHistoryKey,
  aliasesKey,
  modelsChannel,
  parseOrThrow,
  targetVersions,
  type AliasChange,
  type AliasShadows,
  type AliasTarget,
  type ModelAliases,
  type RedisClient,
} from '@conveyor/shared';

/** Most alias changes kept per model. */
export const ALIAS_HISTORY_LENGTH = 200;

/**
 * Sets or deletes one alias (deleting it deletes its shadow), appends the change to the model's
 * bounded history and tells every client, in one step. KEYS: aliases hash, history list. ARGV:
 * model, alias, new target JSON (or ''), action, by, history length, channel. Returns the history
 * entry it wrote (JSON).
 */
const CHANGE_ALIAS = `
local shadowFrom = nil
if ARGV[3] == '' then
  local sraw = redis.call('HGET', KEYS[1], ARGV[1] .. '#shadows')
  local shadows = sraw and cjson.decode(sraw) or {}
  shadowFrom = shadows[ARGV[2]]
  shadows[ARGV[2]] = nil
  if next(shadows) == nil then redis.call('HDEL', KEYS[1], ARGV[1] .. '#shadows')
  else redis.call('HSET', KEYS[1], ARGV[1] .. '#shadows', cjson.encode(shadows)) end
end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local aliases = raw and cjson.decode(raw) or {}
local before = aliases[ARGV[2]]
if ARGV[3] == '' then aliases[ARGV[2]] = nil else aliases[ARGV[2]] = cjson.decode(ARGV[3]) end
if next(aliases) == nil then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(aliases)) end
local t = redis.call('TIME')
local change = { at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), alias = ARGV[2], action = ARGV[4] }
if before then change['from'] = before end
if ARGV[3] ~= '' then change['to'] = cjson.decode(ARGV[3]) end
if shadowFrom then change['shadowFrom'] = shadowFrom end
if ARGV[5] ~= '' then change['by'] = ARGV[5] end
local entry = cjson.encode(change)
redis.call('LPUSH', KEYS[2], entry)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[6]) - 1)
redis.call('PUBLISH', ARGV[7], ARGV[1])
return entry`;

/**
 * Sets or removes the shadow of one alias, records the change and tells every client. Shadows are
 * kept beside the aliases, in field `<model>#shadows` (no model name has a "#"). KEYS: aliases
 * hash, history list. ARGV: model, alias, version (or ''), by, history length, channel.
 */
const CHANGE_SHADOW = `
local field = ARGV[1] .. '#shadows'
local raw = redis.call('HGET', KEYS[1], field)
local shadows = raw and cjson.decode(raw) or {}
local before = shadows[ARGV[2]]
if ARGV[3] == '' then shadows[ARGV[2]] = nil else shadows[ARGV[2]] = ARGV[3] end
if next(shadows) == nil then redis.call('HDEL', KEYS[1], field)
else redis.call('HSET', KEYS[1], field, cjson.encode(shadows)) end
local t = redis.call('TIME')
local change = { at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), alias = ARGV[2], action = 'shadow' }
if before then change['shadowFrom'] = before end
if ARGV[3] ~= '' then change['shadowTo'] = ARGV[3] end
if ARGV[4] ~= '' then change['by'] = ARGV[4] end
local entry = cjson.encode(change)
redis.call('LPUSH', KEYS[2], entry)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
redis.call('PUBLISH', ARGV[6], ARGV[1])
return entry`;

/** A model's aliases, read from Redis, cached, and dropped from the cache when they change. */
export interface AliasStore {
  /** Every alias of a model (empty when none is set). */
  get(model: string): Promise<ModelAliases>;
  /** Every shadow of a model's aliases: alias -> shadow version (empty when none is set). */
  shadows(model: string): Promise<AliasShadows>;
  /** Gives an alias a shadow version (`undefined` removes it); records the change. */
  setShadow(
    model: string,
    alias: string,
    version: string | undefined,
    how?: Pick<ChangeOptions, 'by'>,
  ): Promise<AliasChange>;
  /** Points an alias at a target; records the change. Resolves with the change. */
  set(model: string, alias: string, target: AliasTarget, how?: ChangeOptions): Promise<AliasChange>;
  /** Deletes an alias (ERR_ALIAS_NOT_FOUND when it does not exist). */
  remove(model: string, alias: string, how?: ChangeOptions): Promise<AliasChange>;
  /** The model's alias changes, newest first. */
  history(model: string, limit?: number): Promise<AliasChange[]>;
  /** Drops a model's cached aliases (or every model's). */
  forget(model?: string): void;
  /** get() from the cached copy when it is read and fresh, else undefined: no read, no promise. */
  getNow(model: string): ModelAliases | undefined;
  /** shadows() from the cached copy, as getNow. */
  shadowsNow(model: string): AliasShadows | undefined;
}

/** A model's aliases and their shadows, read together. */
interface Tables {
  aliases: ModelAliases;
  shadows: AliasShadows;
}

/** Who and what asked for an alias change, for its history entry. */
export interface ChangeOptions {
  action?: AliasChange['action'];
  by?: string;
}

/**
 * @param redis answers commands
 * @param ttlMs how long a cached copy is used without a change notice (the notice drops it at once)
 */
export function createAliasStore(redis: RedisClient, prefix: string, ttlMs: number): AliasStore {
  /** Each model's read, and what it read once it answered. */
  const cache = new Map<string, { at: number; tables: Promise<Tables>; read?: Tables }>();

  const read = async (model: string): Promise<Tables> => {
    const [raw, rawShadows] = await redis.hmget(aliasesKey(prefix), model, `${model}#shadows`);
    // Written only through CHANGE_ALIAS and CHANGE_SHADOW; anything else is not ours and counts
    // as no alias.
    const parsed = raw ? ModelAliasesSchema.safeParse(JSON.parse(raw)) : undefined;
    const shadows = rawShadows ? AliasShadowsSchema.safeParse(JSON.parse(rawShadows)) : undefined;
    return {
      aliases: parsed?.success ? parsed.data : {},
      shadows: shadows?.success ? shadows.data : {},
    };
  };
  const cached = (model: string): Promise<Tables> => {
    const hit = cache.get(model);
    if (hit && Date.now() - hit.at < ttlMs) return hit.tables;
    const tables = read(model);
    const entry: { at: number; tables: Promise<Tables>; read?: Tables } = {
      at: Date.now(),
      tables,
    };
    cache.set(model, entry);
    tables.then(
      (answer) => void (entry.read = answer),
      () => cache.delete(model),
    );
    return tables;
  };

  /** A model's tables from the cache when they are read and fresh: no read, no promise. */
  const fresh = (model: string): Tables | undefined => {
    const hit = cache.get(model);
    return hit && Date.now() - hit.at < ttlMs ? hit.read : undefined;
  };

  const change = async (
    model: string,
    alias: string,
    target: AliasTarget | undefined,
    how: ChangeOptions,
  ): Promise<AliasChange> => {
    const name = parseOrThrow(ModelNameSchema, model, 'model name');
    const aliasName = parseOrThrow(AliasNameSchema, alias, 'alias name');
    const action = how.action ?? (target === undefined ? 'delete' : 'set');
    const entry = (await redis.eval(
      CHANGE_ALIAS,
      2,
      aliasesKey(prefix),
      aliasHistoryKey(prefix, name),
      name,
      aliasName,
      target === undefined ? '' : JSON.stringify(target),
      action,
      how.by ?? '',
      String(ALIAS_HISTORY_LENGTH),
      modelsChannel(prefix),
    )) as string;
    cache.delete(name);
    return AliasChangeSchema.parse(JSON.parse(entry));
  };

  async function history(model: string, limit = ALIAS_HISTORY_LENGTH): Promise<AliasChange[]> {
    const name = parseOrThrow(ModelNameSchema, model, 'model name');
    const raw = await redis.lrange(aliasHistoryKey(prefix, name), 0, Math.max(0, limit - 1));
    return raw.flatMap((line) => {
      const parsed = AliasChangeSchema.safeParse(JSON.parse(line));
      return parsed.success ? [parsed.data] : [];
    });
  }

  async function setShadow(
    model: string,
    alias: string,
    version: string | undefined,
    how: Pick<ChangeOptions, 'by'> = {},
  ): Promise<AliasChange> {
    const name = parseOrThrow(ModelNameSchema, model, 'model name');
    const aliasName = parseOrThrow(AliasNameSchema, alias, 'alias name');
    if (version !== undefined) parseOrThrow(ModelVersionSchema, version, 'shadow version');
    else if ((await read(name)).shadows[aliasName] === undefined)
      throw new ConveyorError(
        'ERR_ALIAS_NOT_FOUND',
        `alias "${alias}" of "${model}" has no shadow`,
        {
          details: { model, alias },
        },
      );
    const entry = (await redis.eval(
      CHANGE_SHADOW,
      2,
      aliasesKey(prefix),
      aliasHistoryKey(prefix, name),
      name,
      aliasName,
      version ?? '',
      how.by ?? '',
      String(ALIAS_HISTORY_LENGTH),
      modelsChannel(prefix),
    )) as string;
    cache.delete(name);
    return AliasChangeSchema.parse(JSON.parse(entry));
  }

  return {
    get: async (model) => (await cached(model)).aliases,
    shadows: async (model) => (await cached(model)).shadows,
    setShadow,
    set(model, alias, target, how = {}) {
      const valid = parseOrThrow(AliasTargetSchema, target, `alias "${alias}"`);
      return change(model, alias, valid, how);
    },
    async remove(model, alias, how = {}) {
      const { aliases } = await read(parseOrThrow(ModelNameSchema, model, 'model name'));
      if (aliases[alias] === undefined) throw aliasNotFound(model, alias, aliases);
      return change(model, alias, undefined, how);
    },
    history,
    forget(model) {
      if (model === undefined) cache.clear();
      else cache.delete(model);
    },
    getNow: (model) => fresh(model)?.aliases,
    shadowsNow: (model) => fresh(model)?.shadows,
  };
}

/** ERR_ALIAS_NOT_FOUND naming the aliases the model has. */
export function aliasNotFound(model: string, alias: string, aliases: ModelAliases): ConveyorError {
  const names = Object.keys(aliases);
  return new ConveyorError(
    'ERR_ALIAS_NOT_FOUND',
    `model "${model}" has no alias "${alias}"; ${names.length > 0 ? `its aliases: ${names.join(', ')}` : 'it has no aliases'}`,
    { details: { model, alias } },
  );
}

/**
 * The target `rollout` gives production: `weight` percent to `version`, the rest to the versions
 * production served before, in their proportions.
 */
export function rolloutTarget(current: AliasTarget, version: string, weight: number): AliasTarget {
  ModelVersionSchema.parse(version);
  if (!Number.isInteger(weight) || weight < 0 || weight > 100)
    throw new ConveyorError('ERR_VALIDATION', `weight ${weight} is not a whole percent (0-100)`);
  const others = targetVersions(current).filter((v) => v !== version);
  if (others.length === 0 && weight < 100) {
    throw new ConveyorError(
      'ERR_VALIDATION',
      `production serves no version other than ${version}; promote it instead of rolling it out`,
    );
  }
  const rest = 100 - weight;
  const total = others.reduce((sum, v) => sum + (current[v] ?? 0), 0);
  const target: AliasTarget = { [version]: weight };
  let given = 0;
  others.forEach((v, i) => {
    const share =
      i === others.length - 1 ? rest - given : Math.round((rest * (current[v] ?? 0)) / total);
    target[v] = share;
    given += share;
  });
  return target;
}

export { DEFAULT_ALIAS };
