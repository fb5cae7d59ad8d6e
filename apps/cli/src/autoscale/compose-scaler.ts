import { execFile } from 'node:child_process';
import { ComposeContainerSchema, ConveyorError, zodIssues } from '@conveyor/shared';
import type { Scaler } from './scaler.js';

export interface ComposeScalerOptions {
  /** The compose file (`-f`). */
  readonly file: string;
  /** The service of the workers. */
  readonly service: string;
  /** The project name (`-p`); compose's own default when undefined. */
  readonly project?: string | undefined;
  /** Run the legacy `docker-compose` binary instead of `docker compose`. */
  readonly legacy: boolean;
  /** Working folder and environment of the commands (PATH finds `docker`). */
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** How long one command may take before it is killed, ms. Default 300 000 (`up` may pull). */
  readonly timeoutMs?: number;
}

/** Output kept of a failed command, in its error message. */
const MAX_OUTPUT_CHARS = 2000;

/**
 * Scales a compose service: `docker compose -f <file> up -d --no-recreate --scale <service>=<n>
 * <service>`, and counts its running containers with `docker compose ps --format json <service>`.
 * A failed command is ERR_SCALER_FAILED with its command line and error output.
 */
export function createComposeScaler(options: ComposeScalerOptions): Scaler {
  const command = options.legacy ? 'docker-compose' : 'docker';
  const base = [
    ...(options.legacy ? [] : ['compose']),
    '-f',
    options.file,
    ...(options.project === undefined ? [] : ['-p', options.project]),
  ];
  const run = (args: readonly string[]) =>
    new Promise<string>((resolve, reject) => {
      const all = [...base, ...args];
      execFile(
        command,
        all,
        {
          cwd: options.cwd,
          env: { ...options.env },
          timeout: options.timeoutMs ?? 300_000,
          maxBuffer: 16 * 1024 * 1024,
        },
        (error, stdout, stderr) => {
          if (!error) return resolve(stdout);
          const output = (stderr.trim() || error.message).slice(-MAX_OUTPUT_CHARS);
          reject(
            new ConveyorError('ERR_SCALER_FAILED', `${[command, ...all].join(' ')}: ${output}`, {
              cause: error,
              details: { command, args: all, exitCode: error.code ?? null },
            }),
          );
        },
      );
    });
  return {
    description: `compose service ${options.service}`,
    async current() {
      const out = await run(['ps', '--format', 'json', options.service]);
      return runningContainers(out, options.service);
    },
    async scale(replicas) {
      await run([
        'up',
        '-d',
        '--no-recreate',
        '--scale',
        `${options.service}=${replicas}`,
        options.service,
      ]);
    },
    close: () => Promise.resolve(),
  };
}

/**
 * The running containers of a service in `docker compose ps --format json` output: one JSON array
 * (compose before 2.21) or one object per line (after); nothing for no container.
 */
export function runningContainers(output: string, service: string): number {
  const text = output.trim();
  if (text === '') return 0;
  let values: unknown;
  try {
    values = text.startsWith('[')
      ? JSON.parse(text)
      : text.split('\n').flatMap((l) => (l.trim() === '' ? [] : [JSON.parse(l) as unknown]));
  } catch (cause) {
    throw new ConveyorError('ERR_SCALER_FAILED', `docker compose ps printed no JSON: ${text}`, {
      cause,
    });
  }
  const parsed = ComposeContainerSchema.array().safeParse(values);
  if (!parsed.success) {
    const issues = zodIssues(parsed.error);
    throw new ConveyorError(
      'ERR_SCALER_FAILED',
      `docker compose ps printed containers without a State: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      { issues },
    );
  }
  const containers = parsed.data;
  return containers.filter(
    (c) => c.State.toLowerCase() === 'running' && (c.Service ?? service) === service,
  ).length;
}
