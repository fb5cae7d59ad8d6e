import { Writable } from 'node:stream';
import { createLogger, loadConfig, type Component, type Logger } from '@conveyor/shared';
import { startWorkerService, type WorkerService } from '../../apps/worker/src/worker-service.js';

import {
  MODELS,
  spawnWorker as spawnWorkerFrom,
  type WorkerProcess,
} from '../../scripts/lib/worker-process.js';

export { MODELS, type WorkerProcess } from '../../scripts/lib/worker-process.js';

/**
 * A worker as a real child process, started from its build, which the test run's global setup
 * has brought up to date (build-setup.ts), as the Docker image starts it.
 */
export const spawnWorker = (
  redisUrl: string,
  prefix: string,
  env: Record<string, string> = {},
): Promise<WorkerProcess> => spawnWorkerFrom(redisUrl, prefix, env, 'build');

/** In-memory pino destination: tests assert on log records, not on console output. */
export function memoryLogger(
  component: Component = 'worker',
  level: 'info' | 'debug' = 'info',
): {
  logger: Logger;
  records: Record<string, unknown>[];
} {
  const records: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line) records.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level, component, destination }), records };
}

/** A worker service in this process (its inference still runs on its own thread). */
export async function startInProcessWorker(
  redisUrl: string,
  prefix: string,
  env: Record<string, string> = {},
): Promise<WorkerService & { records: Record<string, unknown>[] }> {
  const config = loadConfig({
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    MODEL_REPOSITORY: MODELS,
    ...env,
  });
  const { logger, records } = memoryLogger();
  const service = await startWorkerService(config, logger);
  return Object.assign(service, { records });
}
