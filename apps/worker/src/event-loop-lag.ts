/** How often the probe's timer is due. */
const TICK_MS = 200;
/** The worst lag is kept over one or two of these periods (5 to 10 s back). */
const PERIOD_MS = 5000;

/** How late the event loop ran a timer lately. */
export interface EventLoopLag {
  /**
   * The worst delay of the probe's timer, in ms, over the last 5 to 10 s, including the delay of
   * a tick that is due and has not run yet.
   */
  worstMs(): number;
  close(): void;
}

/**
 * Measures how long the event loop is held up with a timer due every 200 ms: the time past due
 * when it runs is what any callback (a Redis reply, a lock renewal, an HTTP probe) waited too.
 * Unlike monitorEventLoopDelay's histogram it answers "was the loop held up lately", so a probe
 * that runs just after a long block still sees it.
 */
export function watchEventLoopLag(): EventLoopLag {
  let dueAt = performance.now() + TICK_MS;
  let current = 0;
  let previous = 0;
  let periodStart = performance.now();
  let timer: NodeJS.Timeout;
  const tick = () => {
    const now = performance.now();
    if (now - periodStart >= PERIOD_MS) {
      // A block longer than a period leaves nothing in between: both periods hold it.
      previous = now - periodStart >= 2 * PERIOD_MS ? 0 : current;
      current = 0;
      periodStart = now;
    }
    current = Math.max(current, now - dueAt);
    dueAt = now + TICK_MS;
    timer = setTimeout(tick, TICK_MS);
    timer.unref();
  };
  timer = setTimeout(tick, TICK_MS);
  timer.unref();
  return {
    worstMs: () => Math.max(current, previous, performance.now() - dueAt),
    close: () => clearTimeout(timer),
  };
}
