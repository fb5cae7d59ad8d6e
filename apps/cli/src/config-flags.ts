import { Option, type Command } from 'commander';
import {
  ConveyorError,
  DEV_STATE_FILE,
  isConveyorError,
  loadConfig,
  readDevState,
  redactUrl,
  type Config,
} from '@conveyor/shared';
import type { CliContext } from './context.js';
import { line } from './io.js';

/**
 * The command-line flags that set a documented environment variable (docs/configuration.md).
 * A flag wins over the variable; the variable wins over the default.
 */
export const CONFIG_FLAGS = {
  redisUrl: { flag: '--redis-url <url>', key: 'REDIS_URL', help: 'Redis to use' },
  prefix: { flag: '--prefix <prefix>', key: 'REDIS_KEY_PREFIX', help: 'prefix of every Redis key' },
  logLevel: { flag: '--log-level <level>', key: 'LOG_LEVEL', help: 'lowest log level written' },
  repository: {
    flag: '--repository <dir>',
    key: 'MODEL_REPOSITORY',
    help: 'model repository folder',
  },
  models: { flag: '--models <names>', key: 'MODELS', help: 'comma-separated models to serve' },
  workerConcurrency: {
    flag: '--concurrency <n>',
    key: 'WORKER_CONCURRENCY',
    help: 'jobs run at once, per model',
  },
  threads: { flag: '--threads <n>', key: 'INFERENCE_THREADS', help: 'onnxruntime threads' },
  host: { flag: '--host <host>', key: 'PRODUCER_HOST', help: 'address the HTTP API listens on' },
  port: { flag: '--port <port>', key: 'PRODUCER_PORT', help: 'port the HTTP API listens on' },
  grpcPort: {
    flag: '--grpc-port <port>',
    key: 'GRPC_PORT',
    help: 'port of the gRPC API (KServe v2 inference service); 0 a free one; unset no gRPC',
  },
  workerHttpPort: {
    flag: '--http-port <port>',
    key: 'WORKER_HTTP_PORT',
    help: "port of the worker's /metrics, /livez and /readyz; 0 none",
  },
  timeout: {
    flag: '--timeout <ms>',
    key: 'PREDICT_TIMEOUT_MS',
    help: 'how long to wait for a result, in ms',
  },
} as const satisfies Record<string, { flag: string; key: keyof Config; help: string }>;

export type ConfigFlag = keyof typeof CONFIG_FLAGS;

/** Adds the named config flags to a command, each saying which variable it sets. */
export function addConfigFlags(command: Command, names: readonly ConfigFlag[]): Command {
  for (const name of names) {
    const { flag, key, help } = CONFIG_FLAGS[name];
    command.addOption(new Option(flag, `${help} (env ${key})`));
  }
  return command;
}

/** The variables the given flags set, as text: what a child process (`conveyor dev`'s) needs. */
export function flagEnv(options: object, names: readonly ConfigFlag[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of names) {
    // Commander stores a flag's value under its camel-cased long name (--redis-url: redisUrl).
    const value: unknown = (options as Record<string, unknown>)[
      new Option(CONFIG_FLAGS[name].flag).attributeName()
    ];
    if (typeof value === 'string') env[CONFIG_FLAGS[name].key] = value;
  }
  return env;
}

/**
 * Loads the configuration from the environment overridden by the flags. A bad value is
 * ERR_USAGE naming the flag when a flag set it, ERR_CONFIG_INVALID naming the variable otherwise.
 */
export function configFrom(
  env: Readonly<Record<string, string | undefined>>,
  options: object,
  names: readonly ConfigFlag[],
): Config {
  const overrides = flagEnv(options, names);
  try {
    return loadConfig({ ...env, ...overrides });
  } catch (error) {
    if (!isConveyorError(error)) throw error;
    const byKey = new Map<string, string>(
      names.map((n) => [CONFIG_FLAGS[n].key, CONFIG_FLAGS[n].flag.split(' ')[0] ?? n]),
    );
    const fromFlags = error.issues.filter((i) => overrides[i.path] !== undefined);
    if (fromFlags.length === 0) throw error;
    throw new ConveyorError(
      'ERR_USAGE',
      fromFlags.map((i) => `${byKey.get(i.path) ?? i.path}: ${i.message}`).join('; '),
      { issues: fromFlags.map((i) => ({ path: byKey.get(i.path) ?? i.path, message: i.message })) },
    );
  }
}

/**
 * The configuration of a command that talks to Redis. Where the Redis is comes from, first to
 * last: `--redis-url`, `REDIS_URL`, a `conveyor dev` still running from the working folder (its
 * `.conveyor/dev.json`, whose prefix then applies too unless `--prefix` or `REDIS_KEY_PREFIX`
 * says otherwise), `redis://127.0.0.1:6379`. With `--embedded` no Redis is used, so none is
 * looked for. The Redis of a `conveyor dev` is named on stderr (not with --json, whose stderr is
 * JSON).
 */
export function redisConfigFrom(
  ctx: CliContext,
  options: object,
  names: readonly ConfigFlag[],
): Config {
  const { env } = ctx.io;
  const flags = flagEnv(options, names);
  const given = (key: string) => flags[key] !== undefined || Boolean(env[key]?.trim());
  // --embedded runs the models in this process: no Redis to find.
  const embedded = (options as { embedded?: unknown }).embedded === true;
  const redisGiven = ['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'].some(given);
  const dev = redisGiven || embedded ? undefined : readDevState(ctx.io.cwd);
  if (dev === undefined) return configFrom(env, options, names);
  const fromDev: Record<string, string> = { REDIS_URL: dev.redisUrl };
  if (!given('REDIS_KEY_PREFIX')) fromDev.REDIS_KEY_PREFIX = dev.prefix;
  const config = configFrom({ ...env, ...fromDev }, options, names);
  if ((options as { json?: unknown }).json !== true)
    line(
      ctx.io.stderr,
      `conveyor: using Redis ${redactUrl(dev.redisUrl)} (prefix ${config.REDIS_KEY_PREFIX}) of the \`conveyor dev\` running here (pid ${dev.pid}, ${DEV_STATE_FILE})`,
    );
  return config;
}
