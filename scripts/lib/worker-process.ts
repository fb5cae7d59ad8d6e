import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const MODELS = `${ROOT}models`;

/** A worker (or a producer) as a real child process, started as `pnpm worker` starts it. */
export interface WorkerProcess {
  child: ChildProcess;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * How an app is started: `sources` as `pnpm <app>` does (node through tsx on
 * apps/<app>/src/main.ts, which needs no build), `build` as the Docker image and the published bin
 * do (node on apps/<app>/dist/main.js: about a second less to start, for a build that is up to
 * date).
 */
export type AppEntry = 'sources' | 'build';

/** Node's arguments that start an app from its sources or its build, from any folder. */
export function appArgs(app: 'worker' | 'producer' | 'cli', entry: AppEntry): string[] {
  return entry === 'sources'
    ? ['--conditions=@conveyor/source', '--import', 'tsx', `${ROOT}apps/${app}/src/main.ts`]
    : [`${ROOT}apps/${app}/dist/main.js`];
}

/**
 * The environment of a service process the tests or the demo start: this PATH, its Redis and key
 * prefix, the repository's models, and `env` over them.
 */
export const serviceEnv = (
  redisUrl: string,
  prefix: string,
  env: Record<string, string> = {},
): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  REDIS_URL: redisUrl,
  REDIS_KEY_PREFIX: prefix,
  MODEL_REPOSITORY: MODELS,
  ...env,
});

/** Starts a worker (see AppEntry) and resolves once it logs "worker ready". */
export function spawnWorker(
  redisUrl: string,
  prefix: string,
  env: Record<string, string> = {},
  entry: AppEntry = 'sources',
): Promise<WorkerProcess> {
  return spawnService('worker', redisUrl, prefix, env, entry);
}

/**
 * Starts a worker or a producer (see AppEntry), with `nodeArgs` before its entry, and resolves
 * once it logs "<app> ready".
 */
export async function spawnService(
  app: 'worker' | 'producer',
  redisUrl: string,
  prefix: string,
  env: Record<string, string> = {},
  entry: AppEntry = 'sources',
  nodeArgs: readonly string[] = [],
): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [...nodeArgs, ...appArgs(app, entry)], {
    cwd: ROOT,
    env: serviceEnv(redisUrl, prefix, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buffered = '';
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const record = JSON.parse(line) as Record<string, unknown>;
        logs.push(record);
        if (record.msg === `${app} ready`) resolve();
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    void exited.then((code) =>
      reject(new Error(`${app} exited with ${code} before it was ready: ${stderr}`)),
    );
  });
  // A service started with LOG_LEVEL above info never logs that it is ready; give up, not hang.
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the ${app} did not log "${app} ready" within 60 s`)),
      60_000,
    );
  });
  try {
    await Promise.race([ready, limit]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return {
    child,
    logs,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
