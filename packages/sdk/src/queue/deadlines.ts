/**
 * @file Deadlines of a client's pending waits: one timer per timeout in use instead of one per
 * wait. A client waits on thousands of jobs at once, and each wait's own timer was a Timeout
 * object, three heap numbers and a closure kept as long as the wait, set and cleared per job.
 */

/** A wait with a deadline: the list links it in place, with no object of its own. */
export interface Expiring {
  /** performance.now(), in whole ms, at which it expires. */
  deadline: number;
  newer: Expiring | undefined;
  older: Expiring | undefined;
  /** Called once, when the deadline has passed and the entry is no longer in its list. */
  expire(): void;
}

/**
 * Entries of one timeout, oldest first: added now, each expires `ms` after the one before it at
 * the latest, so the list stays in deadline order and only its head needs a timer.
 */
class DeadlineList {
  oldest: Expiring | undefined;
  newest: Expiring | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ms: number,
    private readonly emptied: () => void,
  ) {}

  add(entry: Expiring): void {
    // Whole milliseconds: a small integer is stored in the entry, a fraction would be boxed.
    entry.deadline = Math.ceil(performance.now()) + this.ms;
    entry.older = this.newest;
    entry.newer = undefined;
    if (this.newest) this.newest.newer = entry;
    else this.oldest = entry;
    this.newest = entry;
    this.timer ??= setTimeout(() => this.fire(), this.ms);
  }

  remove(entry: Expiring): void {
    if (entry.older) entry.older.newer = entry.newer;
    else if (this.oldest === entry) this.oldest = entry.newer;
    else return; // not in this list (expired already)
    if (entry.newer) entry.newer.older = entry.older;
    else this.newest = entry.older;
    entry.newer = entry.older = undefined;
    if (this.oldest === undefined) this.stop();
  }

  private fire(): void {
    this.timer = undefined;
    // A timer may fire up to a millisecond before performance.now() says the time has come.
    const now = performance.now() + 1;
    const due: Expiring[] = [];
    for (let e = this.oldest; e && e.deadline <= now; e = this.oldest) {
      this.remove(e);
      due.push(e);
    }
    const next = this.oldest;
    if (next) this.timer = setTimeout(() => this.fire(), Math.max(1, next.deadline - now + 1));
    else this.stop();
    for (const e of due) e.expire();
  }

  private stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.emptied();
  }
}

/** A client's deadlines: a list per timeout in use, dropped once empty. */
export interface Deadlines {
  /** Expires `entry` in `ms` unless it is removed first. */
  add(entry: Expiring, ms: number): void;
  /** Takes `entry` out of the list it was added to with `ms`; nothing when it is in none. */
  remove(entry: Expiring, ms: number): void;
}

export function createDeadlines(): Deadlines {
  const lists = new Map<number, DeadlineList>();
  return {
    add(entry, ms) {
      let list = lists.get(ms);
      if (!list) {
        const created = new DeadlineList(ms, () => {
          if (lists.get(ms) === created) lists.delete(ms);
        });
        lists.set(ms, created);
        list = created;
      }
      list.add(entry);
    },
    remove(entry, ms) {
      lists.get(ms)?.remove(entry);
    },
  };
}
