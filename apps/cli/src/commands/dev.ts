import type { Command } from 'commander';
import { checkModelsExist } from '@conveyor/worker/model-names';
import {
  ConveyorError,
  DEFAULTS,
  DEV_STATE_FILE,
  readDevState,
  redactUrl,
  removeDevState,
  writeDevState,
} from '@conveyor/shared';
import { addConfigFlags, configFrom, flagEnv, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { line } from '../io.js';
import { running, signal, startMember, type Member } from '../process-group.js';
import {
  hasRedisServerBinary,
  redisAnswers,
  startRedisServer,
  type RedisHandle,
} from '../redis-server.js';

const DEV_FLAGS: readonly ConfigFlag[] = [
  'redisUrl',
  'prefix',
  'logLevel',
  'repository',
  'models',
  'workerConcurrency',
  'threads',
  'host',
  'port',
];

/** A forced stop waits this long for the members before killing them. */
const STOP_GRACE_MS = 45_000;

async function findRedis(ctx: CliContext, url: string, explicit: boolean): Promise<RedisHandle> {
  const say = (text: string) => line(ctx.io.stdout, `[dev] ${text}`);
  if (explicit && (await redisAnswers(url))) {
    say(`redis: ${redactUrl(url)}`);
    return { url, source: 'env', stop: () => Promise.resolve() };
  }
  if (!hasRedisServerBinary()) {
    throw new ConveyorError(
      'ERR_QUEUE_UNAVAILABLE',
      explicit
        ? `${redactUrl(url)} does not answer and there is no redis-server binary to start a throwaway Redis`
        : 'no redis-server binary to start a throwaway Redis: install redis-server or pass --redis-url',
    );
  }
  if (explicit) say(`${redactUrl(url)} does not answer; starting a throwaway redis-server`);
  let redis: RedisHandle & { port: number; process: { pid?: number | undefined } };
  try {
    redis = await startRedisServer();
  } catch (cause) {
    throw new ConveyorError('ERR_QUEUE_UNAVAILABLE', `throwaway redis-server: ${String(cause)}`, {
      cause,
    });
  }
  say(`redis: throwaway redis-server at ${redis.url} (pid ${redis.process.pid ?? '?'})`);
  return redis;
}

/** `conveyor dev`: Redis, one worker and the producer as one process group, for a laptop. */
export function registerDev(program: Command, ctx: CliContext): void {
  addConfigFlags(
    program
      .command('dev')
      .description('run Redis, one worker and the HTTP API together, for development')
      .addHelpText(
        'after',
        `
Uses --redis-url (or REDIS_URL) when it answers, otherwise starts a throwaway redis-server on a
free port. The worker's and the producer's output lines are prefixed with [worker] and [serve].
Ctrl-C or SIGTERM stops everything and exits 0; if one of them dies, the others are stopped and
conveyor exits with its exit code. The HTTP API listens on 127.0.0.1 unless --host says otherwise.

Examples:
  conveyor dev
  conveyor dev --port 3000 --models iris
  REDIS_URL=redis://127.0.0.1:6379 conveyor dev --prefix mine`,
      ),
    DEV_FLAGS,
  ).action(async (options: Record<string, unknown>) => {
    const { io } = ctx;
    const config = configFrom(io.env, options, DEV_FLAGS);
    checkModelsExist(config);
    const other = readDevState(io.cwd);
    if (other !== undefined)
      throw new ConveyorError(
        'ERR_USAGE',
        `a conveyor dev is already running in this folder (pid ${other.pid}, Redis ${redactUrl(other.redisUrl)}, ${DEV_STATE_FILE}); stop it, or run this one from another folder`,
        { details: { pid: other.pid } },
      );
    if (config.REDIS_CLUSTER_NODES !== undefined || config.REDIS_SENTINELS !== undefined)
      throw new ConveyorError(
        'ERR_USAGE',
        `conveyor dev runs on one Redis server, and this configuration names a ${config.REDIS_SENTINELS === undefined ? 'Redis Cluster' : 'Sentinel group'}: run \`conveyor worker\` and \`conveyor serve\` against it, or unset ${config.REDIS_SENTINELS === undefined ? 'REDIS_CLUSTER_NODES' : 'REDIS_SENTINELS'} (and any redis+cluster:// or redis+sentinel:// URL) for a local run`,
      );
    const explicit = typeof options.redisUrl === 'string' || Boolean(io.env.REDIS_URL?.trim());
    const redis = await findRedis(ctx, config.REDIS_URL, explicit);
    const env = {
      ...io.env,
      ...flagEnv(options, DEV_FLAGS),
      REDIS_URL: redis.url,
      // The members write to a pipe (prefixed here): readable lines when this is a terminal.
      LOG_FORMAT: io.env.LOG_FORMAT?.trim() || (io.stdout.isTTY ? 'pretty' : 'json'),
      PRODUCER_HOST:
        typeof options.host === 'string' ? options.host : (io.env.PRODUCER_HOST ?? '127.0.0.1'),
    };
    const self = io.self ?? [];
    const members: Member[] = [
      startMember({ name: 'worker', args: [...self, 'worker'], env, out: io.stdout }),
      startMember({ name: 'serve', args: [...self, 'serve'], env, out: io.stdout }),
    ];
    for (const m of members) line(io.stdout, `[dev] ${m.name}: pid ${m.child.pid ?? '?'}`);
    const host = /^(0\.0\.0\.0|::|\[::\])$/.test(env.PRODUCER_HOST)
      ? '127.0.0.1'
      : env.PRODUCER_HOST;
    const producerUrl = `http://${host.includes(':') ? `[${host}]` : host}:${config.PRODUCER_PORT}`;
    line(io.stdout, `[dev] ${producerUrl} (Ctrl-C stops everything)`);
    // Other commands (and createClient() without redisUrl) run from this folder find this Redis.
    try {
      writeDevState(io.cwd, {
        redisUrl: redis.url,
        prefix: config.REDIS_KEY_PREFIX,
        producerUrl,
        pid: process.pid,
        startedAt: new Date().toISOString(),
      });
      line(
        io.stdout,
        `[dev] wrote ${DEV_STATE_FILE}: conveyor commands run from this folder use this Redis; elsewhere:`,
      );
    } catch (error) {
      line(
        io.stdout,
        `[dev] could not write ${DEV_STATE_FILE} (${String(error)}); to use this Redis:`,
      );
    }
    const exports = [`export REDIS_URL=${redactUrl(redis.url)}`];
    if (config.REDIS_KEY_PREFIX !== DEFAULTS.prefix)
      exports.push(`export REDIS_KEY_PREFIX=${config.REDIS_KEY_PREFIX}`);
    line(io.stdout, `[dev]   ${exports.join('; ')}`);

    ctx.exitCode = await new Promise<number>((resolve) => {
      let stopping = false;
      const stopAll = async (code: number) => {
        if (stopping) return;
        stopping = true;
        for (const m of members) signal(m, 'SIGTERM');
        const timer = setTimeout(() => members.forEach((m) => signal(m, 'SIGKILL')), STOP_GRACE_MS);
        const codes = await Promise.all(members.map((m) => m.exited));
        clearTimeout(timer);
        removeDevState(io.cwd, process.pid);
        await redis.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        line(
          io.stdout,
          `[dev] stopped (${members.map((m, i) => `${m.name} ${codes[i]}`).join(', ')})`,
        );
        const failed = codes.find((c) => c !== 0);
        resolve(code !== 0 ? code : failed === undefined ? EXIT.OK : EXIT.FAILURE);
      };
      const onSignal = (name: NodeJS.Signals) => {
        if (stopping) {
          // A second Ctrl-C: do not wait for the jobs in flight.
          members.forEach((m) => signal(m, 'SIGKILL'));
          return;
        }
        line(io.stdout, `[dev] ${name}: stopping`);
        void stopAll(0);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      for (const m of members) {
        void m.exited.then((code) => {
          if (stopping) return;
          line(io.stdout, `[dev] ${m.name} exited with code ${code}; stopping the others`);
          void stopAll(code === 0 ? EXIT.FAILURE : code);
        });
      }
      if (!members.every(running)) void stopAll(EXIT.FAILURE);
    });
  });
}
