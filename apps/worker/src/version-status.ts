import type { Engine } from '@conveyor/engine';
import { keyOf } from './rollout.js';

/**
 * Where a model version stands in this worker: `loading` (found by a rescan, loading and warming
 * up), `ready`, `degraded` (served, but its warm-up failed), `draining` (removed from the
 * repository, finishing its queue), `failed` (cannot be served; `reason` says why).
 */
export type VersionState = 'loading' | 'ready' | 'degraded' | 'draining' | 'failed';

/** One model version as `/readyz` and the metrics report it. */
export interface VersionStatus {
  model: string;
  /** Empty for a problem with the model's folder itself (no version could be read). */
  version: string;
  state: VersionState;
  /** Why it is degraded or failed. */
  reason?: string;
  /** Inference threads it was given; `inline` when it runs on the main thread instead. */
  threads?: number;
  inline?: boolean;
  loadMs?: number;
  warmupMs?: number;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** Whether a version in this state takes jobs. */
export const serving = (state: VersionState): boolean => state === 'ready' || state === 'degraded';

/**
 * Every version this worker knows: those the engine serves (draining when the rollout drains
 * them), those a rescan is loading, and those the latest scan could not serve.
 */
export function versionStatuses(
  engine: Engine,
  phases: { loading: ReadonlySet<string>; draining: ReadonlySet<string> },
): VersionStatus[] {
  const list: VersionStatus[] = [];
  const known = new Set<string>();
  for (const versions of engine.models.values()) {
    for (const served of versions) {
      const { name: model, version } = served.entry;
      const key = keyOf(model, version);
      known.add(key);
      const status: VersionStatus = {
        model,
        version,
        state: phases.draining.has(key) ? 'draining' : served.state,
        threads: served.threads,
        inline: served.inline ?? false,
      };
      if (served.stateReason !== undefined) status.reason = served.stateReason;
      if (served.loadMs !== undefined) status.loadMs = round(served.loadMs);
      if (served.warmupMs !== undefined) status.warmupMs = round(served.warmupMs);
      list.push(status);
    }
  }
  for (const key of phases.loading) {
    if (known.has(key)) continue;
    const at = key.lastIndexOf('@');
    list.push({ model: key.slice(0, at), version: key.slice(at + 1), state: 'loading' });
  }
  for (const problem of engine.problems) {
    list.push({
      model: problem.name,
      version: problem.version ?? '',
      state: 'failed',
      reason: `${problem.error.code}: ${problem.error.message}`,
    });
  }
  return list;
}
