/**
 * The worker process: `node dist/main.js` (or `pnpm worker`). Configured by environment variables
 * (docs/configuration.md). When Redis does not answer at start it logs one line per attempt and
 * tries again with capped exponential backoff instead of exiting; exits 0 after a graceful
 * shutdown on SIGTERM or SIGINT, including one that arrives during start-up.
 */
import {
  createLogger,
  exitAfterLogs,
  exitOnSignals,
  isConveyorError,
  loadConfigOrExit,
  settledWithin,
  waitForRedis,
} from '@conveyor/shared';
import { lowerPriority } from './priority.js';
import { startWorkerService, type WorkerService } from './worker-service.js';

const config = loadConfigOrExit(process.env);
const log = createLogger({ level: config.LOG_LEVEL, component: 'worker' });
// Before any inference thread starts: they inherit it, and request handling on the host wins.
lowerPriority(config.WORKER_NICE, log);

// Signals are handled from the first moment: during the wait for Redis they end it; during model
// loading the shutdown waits for start-up to finish, then closes what started.
const stopping = new AbortController();
let started: WorkerService | undefined;
exitOnSignals(
  log,
  async () => {
    stopping.abort();
    // Start-up can wait on Redis (announcing the models) for as long as Redis is away.
    if (!(await settledWithin(starting, config.SHUTDOWN_TIMEOUT_MS))) {
      log.warn(
        { timeoutMs: config.SHUTDOWN_TIMEOUT_MS, unfinished: ['start-up'] },
        'worker shutdown incomplete',
      );
      return;
    }
    const service = await starting.catch((err: unknown) => {
      // A start-up the signal did not abort failed on its own: nothing of it is left to close.
      if (!(err instanceof Error && err.name === 'AbortError'))
        log.warn({ err }, 'worker start-up failed during shutdown');
    });
    await service?.close();
  },
  {
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    unfinished: () => ({ starting: started === undefined, activeJobs: started?.activeJobs() }),
  },
);

// Signal handlers run on a later turn of the event loop, when `starting` is set.
const starting = (async () => {
  await waitForRedis(config.REDIS_URL, log, 'conveyor-worker-probe', stopping.signal);
  return startWorkerService(config, log);
})();

try {
  const service = await starting;
  started = service;
  if (service.models.length === 0) {
    log.fatal({ repository: config.MODEL_REPOSITORY }, 'no model can be served');
    await service.close();
    exitAfterLogs(log, 1);
  }
  // `kill -HUP` asks for a rescan of the model repository now (as file events and the periodic
  // rescan do).
  process.on('SIGHUP', () => void service.rescan('SIGHUP'));
} catch (err) {
  // Aborted by a signal: the signal's handler exits 0 once closed.
  if (!stopping.signal.aborted) {
    log.fatal(
      { err, code: isConveyorError(err) ? err.code : 'ERR_INTERNAL' },
      'worker failed to start',
    );
    exitAfterLogs(log, 1);
  }
}
