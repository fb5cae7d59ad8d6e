import { Option, type Command } from 'commander';
import { checkModelsExist } from '@conveyor/worker/model-names';
import {
  AutoscaleOptionsSchema,
  ConveyorError,
  SCALER_KINDS,
  zodIssues,
  type AutoscaleOptions,
  type Config,
} from '@conveyor/shared';
import { decisionLine, runAutoscaler } from '../autoscale/autoscaler.js';
import { createComposeScaler } from '../autoscale/compose-scaler.js';
import { createProcessScaler } from '../autoscale/process-scaler.js';
import type { Scaler } from '../autoscale/scaler.js';
import { addConfigFlags, flagEnv, redisConfigFrom, type ConfigFlag } from '../config-flags.js';
import type { CliContext } from '../context.js';
import { importSdk } from '../deferred-imports.js';
import { EXIT } from '../exit-codes.js';
import { line } from '../io.js';

/** Redis for the status; the rest configures the workers of the processes scaler. */
const AUTOSCALE_FLAGS: readonly ConfigFlag[] = [
  'redisUrl',
  'prefix',
  'logLevel',
  'repository',
  'workerConcurrency',
  'threads',
];

/** Past the workers' own drain (SHUTDOWN_TIMEOUT_MS), what a stop waits before killing them. */
const STOP_MARGIN_MS = 15_000;

const HELP = `
Every --interval seconds it reads the backlog in seconds of work of the models' queues (the
conveyor_queue_backlog_seconds gauge, client.status()), decides, and scales: up at once (at most
--step-up) while the backlog is above --target-backlog, enough for the work waiting to drain
within it; down (at most --step-down) once every decision of the last --cooldown seconds wanted
fewer replicas. Jobs waiting with no live worker start one replica, from zero too. Each decision
is one line on stdout (a JSON line with --json).

--scaler compose runs "docker compose -f <file> up -d --no-recreate --scale <service>=<n>
<service>" (docker-compose with --legacy-compose); --scaler processes runs the replicas as
"conveyor worker" processes of this one, serving --model (their output goes to stderr).
SIGINT or SIGTERM stops it and exits 0: the processes scaler stops its workers, letting them
finish their jobs; compose replicas are left as they are.

Examples:
  conveyor autoscale --model iris --min 1 --max 6            # the worker service of ./docker-compose.yml
  conveyor autoscale --model iris,sentiment --compose-file deploy/compose.yml --service worker
  conveyor autoscale --model iris --scaler processes --max 3 --cooldown 30
  conveyor autoscale --model iris --dry-run --json`;

/** Turns zod's issues into ERR_USAGE naming the flags (`targetBacklog` is --target-backlog). */
function parseFlags(flags: Record<string, unknown>): AutoscaleOptions {
  const parsed = AutoscaleOptionsSchema.safeParse(flags);
  if (parsed.success) return parsed.data;
  const issues = zodIssues(parsed.error).map((i) => ({
    path: `--${i.path.split('.')[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
    message: i.message,
  }));
  throw new ConveyorError('ERR_USAGE', issues.map((i) => `${i.path}: ${i.message}`).join('; '), {
    issues,
  });
}

function createScaler(
  ctx: CliContext,
  options: AutoscaleOptions,
  config: Config,
  flags: Record<string, unknown>,
): Scaler {
  const { io } = ctx;
  if (options.scaler === 'compose')
    return createComposeScaler({
      file: options.composeFile,
      service: options.service,
      project: options.project,
      legacy: options.legacyCompose,
      cwd: io.cwd,
      env: io.env,
    });
  checkModelsExist({ ...config, MODELS: options.model });
  return createProcessScaler({
    self: io.self ?? [],
    env: {
      ...io.env,
      ...flagEnv(flags, AUTOSCALE_FLAGS),
      REDIS_URL: config.REDIS_URL,
      REDIS_KEY_PREFIX: config.REDIS_KEY_PREFIX,
      MODELS: options.model.join(','),
      // Several workers on one machine: a fixed port for /metrics would be taken twice.
      WORKER_HTTP_PORT: '0',
      LOG_FORMAT: io.env.LOG_FORMAT?.trim() || (io.stderr.isTTY ? 'pretty' : 'json'),
    },
    out: io.stderr,
    stopGraceMs: config.SHUTDOWN_TIMEOUT_MS + STOP_MARGIN_MS,
  });
}

/** `conveyor autoscale`: adds and removes worker replicas on the backlog in seconds of work. */
export function registerAutoscale(program: Command, ctx: CliContext): void {
  const command = program
    .command('autoscale')
    .description('add and remove worker replicas (compose or processes) on the queue backlog')
    .requiredOption('--model <names>', 'models whose backlog drives the replicas (comma-separated)')
    .option('--min <n>', 'fewest replicas (default 0)')
    .option('--max <n>', 'most replicas (default 4)')
    .option('--target-backlog <seconds>', 'backlog per live worker to stay under (default 10)')
    .option('--interval <seconds>', 'time between decisions (default 5)')
    .option('--cooldown <seconds>', 'how long the backlog stays low before a removal (default 60)')
    .option('--step-up <n>', 'most replicas added at once (default 2)')
    .option('--step-down <n>', 'most replicas removed at once (default 1)')
    .addOption(
      new Option('--scaler <kind>', 'who runs the replicas (default compose)').choices(
        SCALER_KINDS,
      ),
    )
    .option('--compose-file <file>', 'compose file (default docker-compose.yml)')
    .option('--service <name>', 'compose service of the workers (default worker)')
    .option('--project <name>', "compose project name (default: the compose file's folder)")
    .option('--legacy-compose', 'run the docker-compose binary instead of docker compose')
    .option('--dry-run', 'decide and print, never scale')
    .option('--json', 'print each decision as a JSON line')
    .addHelpText('after', HELP);
  addConfigFlags(command, AUTOSCALE_FLAGS);
  command.action(async (flags: Record<string, unknown>) => {
    const { io } = ctx;
    const options = parseFlags(flags);
    const config = redisConfigFrom(ctx, flags, AUTOSCALE_FLAGS);
    const scaler = createScaler(ctx, options, config, flags);
    const { createClient } = await importSdk();
    const client = await createClient({
      redisUrl: config.REDIS_URL,
      prefix: config.REDIS_KEY_PREFIX,
      catalogueTtlMs: 0,
    });
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await runAutoscaler(
        {
          models: options.model,
          policy: {
            min: options.min,
            max: options.max,
            targetBacklogSeconds: options.targetBacklog,
            cooldownMs: options.cooldown * 1000,
            stepUp: options.stepUp,
            stepDown: options.stepDown,
          },
          intervalMs: options.interval * 1000,
          dryRun: options.dryRun,
          scaler,
          status: () => client.status(),
          report: (record) =>
            line(io.stdout, flags.json === true ? JSON.stringify(record) : decisionLine(record)),
        },
        stop.signal,
      );
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await scaler.close();
      await client.close();
    }
    ctx.exitCode = EXIT.OK;
  });
}
