import type { Writable } from 'node:stream';
import { running, signal, startMember, type Member } from '../process-group.js';
import type { Scaler } from './scaler.js';

export interface ProcessScalerOptions {
  /** How node runs the CLI again (see Io.self): each replica is `node <self> worker`. */
  readonly self: readonly string[];
  /** The workers' environment (MODELS, REDIS_URL, ...). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where the workers' output goes, each line prefixed with `[worker-<n>]`. */
  readonly out: Writable;
  /** How long close() lets the workers drain before it kills them, ms. */
  readonly stopGraceMs: number;
}

/**
 * Runs the replicas as `conveyor worker` child processes of this one (as `conveyor dev` runs its
 * worker). The newest replica is removed first; it gets SIGTERM, stops taking jobs and finishes
 * those in flight. A replica that exits on its own is no longer counted.
 */
export function createProcessScaler(options: ProcessScalerOptions): Scaler {
  const members: Member[] = [];
  const stopping = new Set<Member>();
  let started = 0;
  const prune = () => {
    for (let i = members.length - 1; i >= 0; i -= 1)
      if (!running(members[i]!)) members.splice(i, 1);
  };
  const stop = (member: Member) => {
    stopping.add(member);
    void member.exited.then(() => stopping.delete(member));
    signal(member, 'SIGTERM');
  };
  return {
    description: 'processes',
    current() {
      prune();
      return Promise.resolve(members.length);
    },
    scale(replicas) {
      prune();
      while (members.length < replicas) {
        started += 1;
        const args = [...options.self, 'worker'];
        members.push(
          startMember({ name: `worker-${started}`, args, env: options.env, out: options.out }),
        );
      }
      while (members.length > replicas) stop(members.pop()!);
      return Promise.resolve();
    },
    async close() {
      members.splice(0).forEach(stop);
      const all = [...stopping];
      const timer = setTimeout(() => all.forEach((m) => signal(m, 'SIGKILL')), options.stopGraceMs);
      await Promise.all(all.map((m) => m.exited));
      clearTimeout(timer);
    },
  };
}
