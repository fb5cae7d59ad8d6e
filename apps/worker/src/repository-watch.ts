import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from '@conveyor/shared';

/** File events come in bursts (a copy writes many times): one rescan after they settle. */
const SETTLE_MS = 500;

/** Calls a rescan when the repository changes, periodically, and on demand; never two at once. */
export interface RepositoryWatch {
  /** Asks for a rescan now (a signal, an admin command). */
  trigger(reason: string): void;
  /** Resolves when no rescan is running or asked for. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Watches the model repository with file events (recursive) and a periodic rescan every
 * `intervalMs` (0: none), since network file systems deliver no events. `rescan` runs one at a
 * time; a request that arrives while one runs makes exactly one more run after it.
 */
export function watchRepository(options: {
  root: string;
  intervalMs: number;
  log: Logger;
  rescan: () => Promise<void>;
}): RepositoryWatch {
  const { root, intervalMs, log } = options;
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;
  let settle: NodeJS.Timeout | undefined;

  const run = (): Promise<void> => {
    running = (async () => {
      do {
        again = false;
        await options.rescan().catch((err: unknown) => log.error({ err }, 'rescan failed'));
      } while (again && !closed);
    })().finally(() => (running = undefined));
    return running;
  };

  const trigger = (reason: string) => {
    if (closed) return;
    log.debug({ reason }, 'model repository rescan');
    if (running) again = true;
    else void run();
  };

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(root, { recursive: true }, () => {
      clearTimeout(settle);
      settle = setTimeout(() => trigger('file event'), SETTLE_MS);
      settle.unref();
    });
    watcher.on('error', (err) => log.warn({ err, root }, 'model repository watch failed'));
    watcher.unref();
  } catch (err) {
    log.warn({ err, root }, 'cannot watch the model repository; rescanning periodically');
  }
  const timer = intervalMs > 0 ? setInterval(() => trigger('periodic'), intervalMs) : undefined;
  timer?.unref();

  return {
    trigger,
    async idle() {
      while (running) await running;
    },
    async close() {
      closed = true;
      clearTimeout(settle);
      clearInterval(timer);
      watcher?.close();
      await running;
    },
  };
}
