import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import type { Logger } from '@conveyor/shared';

/**
 * The ids of this process's threads (Linux's /proc/self/task), or none where there is no such
 * directory.
 */
function threadIds(): number[] {
  try {
    return readdirSync('/proc/self/task').map(Number).filter(Number.isInteger);
  } catch {
    return [];
  }
}

/**
 * Lowers the worker's scheduling priority to `nice` (WORKER_NICE) when it is higher now. On Linux
 * a niceness belongs to a thread, and a thread inherits it from the thread that starts it: setting
 * it on the calling thread alone left the threads that exist before the worker's code runs at the
 * old priority, among them V8's helper threads, which run most of the worker's garbage collection
 * (a burst's producer on the same host then shared the CPU with them on equal terms). So every
 * thread of the process is lowered, then the threads started later (inference threads,
 * onnxruntime's, libuv's pool) inherit it. Elsewhere the call lowers the whole process. A refusal
 * is logged, not fatal: the worker still serves at the priority it has.
 */
export function lowerPriority(nice: number, log: Logger): void {
  if (nice === 0) return;
  try {
    const current = getPriority();
    if (current >= nice) return;
    setPriority(nice);
    let threads = 1;
    for (const tid of threadIds()) {
      if (tid === process.pid || getPriority(tid) >= nice) continue;
      setPriority(tid, nice);
      threads += 1;
    }
    log.info({ nice, was: current, threads }, 'worker priority lowered');
  } catch (err) {
    log.warn({ err, nice }, 'worker priority not lowered');
  }
}
