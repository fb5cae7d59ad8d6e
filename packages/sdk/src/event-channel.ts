import type { JobEvent, JobState } from './client.js';

/**
 * A push-fed async iterator: a producer pushes values, then ends or fails it; the consumer iterates
 * with `for await`. Breaking out of the loop runs `onReturn`, so subscriptions are released.
 */
export interface Channel<T> {
  push(value: T): void;
  end(): void;
  fail(error: unknown): void;
  readonly iterator: AsyncIterableIterator<T>;
}

export function createChannel<T>(onReturn: () => void): Channel<T> {
  const buffered: T[] = [];
  let ended = false;
  let failure: { error: unknown } | undefined;
  let waiting:
    | { resolve: (r: IteratorResult<T, undefined>) => void; reject: (e: unknown) => void }
    | undefined;

  const finish = () => {
    if (ended) return;
    ended = true;
    onReturn();
  };
  const settleWaiting = () => {
    const waiter = waiting;
    waiting = undefined;
    if (!waiter) return;
    if (failure) {
      waiter.reject(failure.error);
      failure = undefined;
    } else waiter.resolve({ value: undefined, done: true });
  };

  const iterator: AsyncIterableIterator<T> = {
    next() {
      if (buffered.length > 0)
        return Promise.resolve({ value: buffered.shift() as T, done: false });
      if (failure) {
        const { error } = failure;
        failure = undefined;
        // The failure is whatever the producer failed with: a ConveyorError, never re-wrapped here.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        return Promise.reject(error);
      }
      if (ended) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => (waiting = { resolve, reject }));
    },
    return() {
      buffered.length = 0;
      failure = undefined;
      finish();
      settleWaiting();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };

  return {
    push(value) {
      if (ended) return;
      const waiter = waiting;
      waiting = undefined;
      if (waiter) waiter.resolve({ value, done: false });
      else buffered.push(value);
    },
    end() {
      if (ended) return;
      finish();
      if (buffered.length === 0) settleWaiting();
    },
    fail(error) {
      if (ended) return;
      failure = { error };
      finish();
      if (buffered.length === 0) settleWaiting();
    },
    iterator,
  };
}

const TERMINAL: ReadonlySet<JobState> = new Set(['completed', 'failed', 'unknown']);

/** Subscribes to a job's events, then reads its current state: nothing between is lost. */
export type JobEventSource = (
  emit: (event: JobEvent) => void,
) => Promise<{ state: JobState; stop: () => void }>;

/**
 * The iterator behind `handle.events()`: the current state first, then each change (repeats of
 * the same state are dropped, as events that raced the state read may repeat it), ending after
 * a terminal state.
 */
export function jobEvents(source: JobEventSource): AsyncIterableIterator<JobEvent> {
  let stop: (() => void) | undefined;
  let stopped = false;
  const channel = createChannel<JobEvent>(() => {
    stopped = true;
    stop?.();
  });
  let last: JobState | undefined;
  let early: JobEvent[] | undefined = [];
  const deliver = (event: JobEvent) => {
    if (event.type === 'state') {
      if (event.state === last) return;
      last = event.state;
    }
    channel.push(event);
    if (event.type === 'state' && TERMINAL.has(event.state)) channel.end();
  };
  source((event) => (early ? early.push(event) : deliver(event))).then(
    (started) => {
      stop = started.stop;
      if (stopped) return started.stop();
      deliver({ type: 'state', state: started.state });
      const queued = early ?? [];
      early = undefined;
      queued.forEach(deliver);
    },
    (error: unknown) => channel.fail(error),
  );
  return channel.iterator;
}
