import { describe, expect, it, vi } from 'vitest';
import { createDeadlines, type Expiring } from './deadlines.js';

/** An entry that records when it expired, in ms after `t0`. */
function entry(name: string, expired: [string, number][], t0: number): Expiring {
  return {
    deadline: 0,
    newer: undefined,
    older: undefined,
    expire: () => void expired.push([name, performance.now() - t0]),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('deadlines', () => {
  it('expires each entry once its own timeout has passed, and not a removed one', async () => {
    const deadlines = createDeadlines();
    const expired: [string, number][] = [];
    const t0 = performance.now();
    const [a, b, c] = [entry('a', expired, t0), entry('b', expired, t0), entry('c', expired, t0)];
    deadlines.add(a, 40);
    deadlines.add(b, 40);
    deadlines.add(c, 10);
    deadlines.remove(b, 40);
    await sleep(25);
    const d = entry('d', expired, t0);
    deadlines.add(d, 40);
    await sleep(100);
    expect(expired.map(([n]) => n)).toEqual(['c', 'a', 'd']);
    const at = Object.fromEntries(expired);
    // Not before its timeout, less the millisecond a timer may fire early (see fire()).
    expect(at.c).toBeGreaterThanOrEqual(10 - 1);
    expect(at.a).toBeGreaterThanOrEqual(40 - 1);
    expect(at.d).toBeGreaterThanOrEqual(65 - 1);
  });

  // Fake timers: the suite's files share processes, and a timer of another file that ended
  // during a real wait changed a count of the process's timers.
  it('keeps no timer once its entries are gone, and takes new ones after', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const deadlines = createDeadlines();
      const expired: [string, number][] = [];
      const entries = Array.from({ length: 1000 }, (_, i) => entry(`e${i}`, expired, 0));
      for (const e of entries) deadlines.add(e, 20);
      expect(vi.getTimerCount()).toBe(1);
      // Removed from the middle, the ends and twice: the list stays whole.
      for (const i of [500, 0, 999, 500]) deadlines.remove(entries[i]!, 20);
      vi.advanceTimersByTime(60);
      expect(expired).toHaveLength(997);
      expect(vi.getTimerCount()).toBe(0);
      deadlines.add(entries[0]!, 5);
      deadlines.remove(entries[0]!, 5);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
