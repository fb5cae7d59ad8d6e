import { modelsChannel, throttledErrorLog, type Logger, type RedisClient } from '@conveyor/shared';

/** Longest the first request waits for the subscription, in ms. */
const SUBSCRIBE_WAIT_MS = 2000;

/** A subscription to the notices that a model's aliases or served versions changed. */
export interface ModelChanges {
  /**
   * Settles once the subscription is in place (opened on first use). It never rejects: while
   * Redis's pub/sub is away, cached copies still expire after their time to live.
   */
  readonly ready: Promise<void>;
  /** Whether `ready` has settled: a caller that sees true need not wait for it. */
  readonly settled: boolean;
  close(): Promise<void>;
}

/**
 * Subscribes (on first use of `ready`) to the models channel on a connection of its own and calls
 * `onChange` with the model each notice names; after a reconnection, with no model (every cached
 * copy is dropped, since notices may have been missed meanwhile).
 */
export function watchModelChanges(
  open: () => RedisClient,
  prefix: string,
  onChange: (model?: string) => void,
  log: Logger,
): ModelChanges {
  let subscriber: RedisClient | undefined;
  let started: Promise<void> | undefined;
  let settled = false;
  const channel = modelsChannel(prefix);

  const start = async (): Promise<void> => {
    const connection = open();
    subscriber = connection;
    connection.on('error', throttledErrorLog(log, 'redis model-changes connection error'));
    connection.on('message', (from: string, model: string) => {
      if (from === channel) onChange(model);
    });
    let first = true;
    connection.on('ready', () => {
      if (!first) onChange();
      first = false;
    });
    let timer: NodeJS.Timeout | undefined;
    // A Redis that does not answer must not hold up the first request: it goes on with cached
    // copies that expire by time, and the subscription completes when Redis is back.
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SUBSCRIBE_WAIT_MS);
      timer.unref();
    });
    const subscribed = connection.subscribe(channel).then(
      () => undefined,
      (err: unknown) =>
        log.warn({ err }, 'could not subscribe to model changes; cached copies expire by time'),
    );
    await Promise.race([subscribed, waited]);
    clearTimeout(timer);
  };

  return {
    get ready() {
      started ??= start().finally(() => {
        settled = true;
      });
      return started;
    },
    get settled() {
      return settled;
    },
    async close() {
      await started;
      await subscriber?.quit().catch(() => subscriber?.disconnect());
    },
  };
}
