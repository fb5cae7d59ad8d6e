import type { Job } from 'bullmq';

/**
 * Keeps shadow copies off live jobs' way in one worker process: a copy (a job whose payload has
 * `shadowOf`) runs only once no live job of any version has run in the process for quietMs, one
 * copy at a time, so a live job that arrives meanwhile waits for at most one copy's run, never a
 * burst of them. Copies wait in their BullMQ slot (its lock is renewed as usual), in the order
 * taken, for at most maxWaitMs each: a process busy with live jobs all the time still runs a few
 * copies (still one at a time), so a version that is a shadow for one alias and serves another
 * gets slots back for its own live jobs; its shadow queue fills and clients drop further copies
 * (`backlog`). See docs/lifecycle.md, "Shadow".
 */
export interface ShadowGate {
  /** Runs `work` for `job`: at once for a live job, at the shadow's turn for a copy. */
  run<T>(job: Job, work: () => Promise<T>): Promise<T>;
  /**
   * Runs `work` at a copy's turn: once the process is quiet (or overdue), one at a time with the
   * copies. For an observer's Redis traffic about live jobs (the shadow meeting), which can wait.
   */
  whenQuiet<T>(work: () => Promise<T>): Promise<T>;
}

/** How long the process must have had no live job before a copy runs, ms. */
const QUIET_MS = 2;
/** How long a copy waits for a quiet process at most, ms. */
const MAX_WAIT_MS = 5000;

const isCopy = (job: Job): boolean => {
  const data: unknown = job.data;
  return typeof data === 'object' && data !== null && 'shadowOf' in data;
};

interface Waiter {
  /** Date.now() past which it runs even while live jobs do. */
  readonly overdueAt: number;
  readonly start: () => void;
}

export function createShadowGate(quietMs = QUIET_MS, maxWaitMs = MAX_WAIT_MS): ShadowGate {
  let live = 0;
  let copyRunning = false;
  const waiting: Waiter[] = [];
  let timer: NodeJS.Timeout | undefined;

  /** (Re)arms the timer that starts the first waiting copy: after quietMs, or when overdue. */
  const schedule = () => {
    clearTimeout(timer);
    timer = undefined;
    const head = waiting[0];
    if (!head || copyRunning) return;
    const untilOverdue = Math.max(0, head.overdueAt - Date.now());
    timer = setTimeout(
      () => {
        timer = undefined;
        if (copyRunning || waiting[0] !== head) return;
        if (live > 0 && Date.now() < head.overdueAt) return schedule();
        waiting.shift();
        copyRunning = true;
        head.start();
      },
      live > 0 ? untilOverdue : Math.min(quietMs, untilOverdue),
    );
  };

  async function atQuiet<T>(work: () => Promise<T>): Promise<T> {
    await new Promise<void>((start) => {
      waiting.push({ overdueAt: Date.now() + maxWaitMs, start });
      if (waiting.length === 1) schedule();
    });
    try {
      return await work();
    } finally {
      copyRunning = false;
      schedule();
    }
  }

  async function runLive<T>(work: () => Promise<T>): Promise<T> {
    live += 1;
    // A quiet timer armed before this job would start a copy beside it: wait for overdue instead.
    if (live === 1 && waiting.length > 0) schedule();
    try {
      return await work();
    } finally {
      live -= 1;
      if (live === 0) schedule();
    }
  }

  return {
    run: (job, work) => (isCopy(job) ? atQuiet(work) : runLive(work)),
    whenQuiet: atQuiet,
  };
}
