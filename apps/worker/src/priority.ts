import { getPriority, setPriority } from 'node:os';
import type { Logger } from '@conveyor/shared';

/**
 * Lowers the calling thread's scheduling priority to `nice` (WORKER_NICE) when it is higher now.
 * On Linux a niceness belongs to a thread and is inherited by the threads it starts later, so the
 * worker calls this first, before its inference threads (and onnxruntime's) exist. A refusal is
 * logged, not fatal: the worker still serves at the priority it has.
 */
export function lowerPriority(nice: number, log: Logger): void {
  if (nice === 0) return;
  try {
    const current = getPriority();
    if (current >= nice) return;
    setPriority(nice);
    log.info({ nice, was: current }, 'worker priority lowered');
  } catch (err) {
    log.warn({ err, nice }, 'worker priority not lowered');
  }
}
