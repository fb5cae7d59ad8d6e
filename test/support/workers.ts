import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { createLogger, loadConfig, type Logger } from '@conveyor/shared';
import { startWorkerService, type WorkerService } from '../../apps/worker/src/worker-service.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const MODELS = `${ROOT}models`;

/** In-memory pino destination: tests assert on log records, not on console output. */
export function memoryLogger(): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) records.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: 'info', component: 'worker', destination }), records };
}

/** A worker service in this process (its inference still runs on its own thread). */
export async function startInProcessWorker(
  redisUrl: string,
  prefix: string,
  env: Record<string, string> = {},
): Promise<WorkerService & { records: Record<string, unknown>[] }> {
  const config = loadConfig({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix, MODEL_REPOSITORY: MODELS, ...env });
  const { logger, records } = memoryLogger();
  const service = await startWorkerService(config, logger);
  return Object.assign(service, { records });
}

/** A worker as a real child process, started as `pnpm worker` starts it. */
export interface WorkerProcess {
  child: ChildProcess;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function spawnWorker(redisUrl: string, prefix: string, env: Record<string, string> = {}): Promise<WorkerProcess> {
  const child = spawn(
    process.execPath,
    ['--conditions=@conveyor/source', '--import', 'tsx', 'apps/worker/src/main.ts'],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH, REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix, MODEL_REPOSITORY: MODELS, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buffered = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const record = JSON.parse(line) as Record<string, unknown>;
        logs.push(record);
        if (record.msg === 'worker ready') resolve();
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    void exited.then((code) => reject(new Error(`worker exited with ${code} before it was ready: ${stderr}`)));
  });
  await ready;
  return {
    child,
    logs,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
