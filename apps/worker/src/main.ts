/**
 * The worker process: `node dist/main.js` (or `pnpm worker`). Configured by environment variables
 * (docs/configuration.md). When Redis does not answer at start it logs one line per attempt and
 * tries again with capped exponential backoff instead of exiting; exits 0 after a graceful
 * shutdown on SIGTERM or SIGINT.
 */
import {
  createLogger,
  exitOnSignals,
  isConveyorError,
  loadConfigOrExit,
  waitForRedis,
} from '@conveyor/shared';
import { startWorkerService } from './worker-service.js';

const config = loadConfigOrExit(process.env);
const log = createLogger({ level: config.LOG_LEVEL, component: 'worker' });

try {
  await waitForRedis(config.REDIS_URL, log, 'conveyor-worker-probe');
  const service = await startWorkerService(config, log);
  if (service.models.length === 0) {
    log.fatal({ repository: config.MODEL_REPOSITORY }, 'no model can be served');
    await service.close();
    process.exit(1);
  }
  exitOnSignals(log, () => service.close());
} catch (err) {
  log.fatal(
    { err, code: isConveyorError(err) ? err.code : 'ERR_INTERNAL' },
    'worker failed to start',
  );
  process.exit(1);
}
