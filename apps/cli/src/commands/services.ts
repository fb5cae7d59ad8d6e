import type { Command } from 'commander';
import { checkModelsExist } from '@conveyor/worker/model-names';
import { addConfigFlags, redisConfigFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';

export const WORKER_FLAGS: readonly ConfigFlag[] = [
  'redisUrl',
  'prefix',
  'logLevel',
  'repository',
  'models',
  'workerConcurrency',
  'threads',
  'workerHttpPort',
];

export const SERVE_FLAGS: readonly ConfigFlag[] = [
  'redisUrl',
  'prefix',
  'logLevel',
  'host',
  'port',
  'grpcPort',
  'timeout',
];

/** `conveyor worker` and `conveyor serve`: the worker and the producer, as `pnpm worker` runs them. */
export function registerServices(program: Command, ctx: CliContext): void {
  addConfigFlags(
    program
      .command('worker')
      .description('run a worker: consume the queues of the models in the repository')
      .addHelpText(
        'after',
        `
Examples:
  conveyor worker                                   # every model in ./models, Redis on 127.0.0.1:6379
  conveyor worker --models iris --concurrency 8     # one model, 8 jobs at once
  conveyor worker --redis-url redis://:secret@redis:6379 --repository /srv/models

Logs go to stdout: readable lines on a terminal, JSON lines otherwise (LOG_FORMAT). SIGTERM or
SIGINT stops taking jobs, lets the jobs in flight finish (SHUTDOWN_TIMEOUT_MS) and exits 0; no
model to serve exits 1; --models naming a model the repository does not have exits 2 before
anything starts. While Redis does not answer at start, it logs one warning per attempt and
retries with backoff. Without --redis-url or REDIS_URL, a \`conveyor dev\` running from this
folder (.conveyor/dev.json) gives the Redis.`,
      ),
    WORKER_FLAGS,
  ).action(async (options: Record<string, unknown>) => {
    const config = redisConfigFrom(ctx, options, WORKER_FLAGS);
    checkModelsExist(config);
    await ctx.launch('worker', config);
  });

  addConfigFlags(
    program
      .command('serve')
      .description('run the producer: the HTTP API (Open Inference Protocol v2) and the dashboard')
      .addHelpText(
        'after',
        `
Examples:
  conveyor serve                       # http://0.0.0.0:8080, Redis on 127.0.0.1:6379
  conveyor serve --port 3000 --host 127.0.0.1
  curl -s localhost:3000/v2/health/ready

Logs go to stdout: readable lines on a terminal, JSON lines otherwise (LOG_FORMAT). SIGTERM or
SIGINT closes the server and exits 0. While Redis does not answer at start, it logs one warning
per attempt and retries with backoff. The server runs in the foreground: query it from another
terminal.`,
      ),
    SERVE_FLAGS,
  ).action(async (options: Record<string, unknown>) => {
    await ctx.launch('producer', redisConfigFrom(ctx, options, SERVE_FLAGS));
  });
}
