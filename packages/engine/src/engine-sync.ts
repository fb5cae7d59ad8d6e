/**
 * @file How an engine follows its repository: each sync loads versions that appeared, loads again
 * (in place) served versions whose files changed, and reports versions whose folder went.
 */
import type { ConveyorError, Logger } from '@conveyor/shared';
import type { EngineOptions } from './engine.js';
import { chooseInline } from './inline-choice.js';
import { loadVersion, type LoadedVersion } from './load-version.js';
import type { ModelProblem } from './model-problem.js';
import { versionStamp, type ModelEntry } from './model-repository.js';
import { loadPipeline, type PipelineDeps } from './pipeline/load-pipeline.js';
import { scanWithDependencies } from './pipeline/scan-with-dependencies.js';
import type { ServedModel } from './served-model.js';
import type { VersionRegistry } from './version-registry.js';

export interface SyncReport {
  /** Versions loaded, warmed up and served by this sync. */
  added: ServedModel[];
  /**
   * Served versions whose files (model.onnx, model.json) changed: loaded and warmed up again, and
   * served in place of the old load, which finishes its calls in flight and is closed. A change
   * that cannot be served leaves the old load serving (logged, retried when the files change).
   */
  reloaded: ServedModel[];
  /** Served versions whose folder has gone since the last sync; still served until `unload`. */
  removed: ServedModel[];
  /** Every version of the repository that cannot be served, as `engine.problems` now lists. */
  problems: ModelProblem[];
}

export const keyOf = (name: string, version?: string) => `${name}@${version ?? '-'}`;

export interface SyncState {
  readonly options: EngineOptions;
  readonly registry: VersionRegistry;
  readonly log: Logger;
  problems: ModelProblem[];
  /** Versions that failed to load, with the stamp of their files then: retried when it changes. */
  readonly failed: Map<string, { stamp: string; problem: ModelProblem }>;
  /** Served versions already reported as removed. */
  readonly gone: Set<ServedModel>;
  /** The stamp of each served version's files when it was loaded (see versionStamp). */
  readonly stamps: Map<string, string>;
  /** Replaced loads still finishing their calls, closed once idle. */
  readonly retiring: Set<Promise<void>>;
  /** Served versions whose changed files cannot be served: the reason logged, to log it once. */
  readonly refusedChanges: Map<string, string>;
  readonly isClosed: () => boolean;
  /** How a pipeline version calls the other models of the repository. */
  readonly repository: Pick<PipelineDeps, 'predict' | 'resolve'>;
}

/** Closes a replaced load once its calls in flight are done; engine.close() waits for it. */
function retire(state: SyncState, old: LoadedVersion): void {
  const closing = state.registry
    .idle(old.served)
    .then(() => old.pool.close())
    .catch((err: unknown) => state.log.warn({ err }, 'could not close a replaced model version'))
    .finally(() => state.retiring.delete(closing));
  state.retiring.add(closing);
}

/**
 * Loads a version of the repository and serves it: as a new version, or (`replace`) in place of
 * the load of the same version served now, which is retired once idle.
 */
async function loadEntry(
  state: SyncState,
  entry: ModelEntry,
  replace = false,
): Promise<ServedModel | ModelProblem | undefined> {
  const key = keyOf(entry.name, entry.version);
  const stamp = await versionStamp(entry);
  const failed = state.failed.get(key);
  if (failed?.stamp === stamp) return failed.problem;
  try {
    const startedAt = performance.now();
    const options = {
      threads: state.options.threads ?? 1,
      warmup: state.options.warmup ?? true,
      maxTensorBytes: state.options.maxTensorBytes,
      logger: state.log,
      onRun: state.options.onRun,
    };
    const chosen = entry.config.pipeline
      ? await loadPipeline(entry, { ...options, ...state.repository })
      : await chooseInline(
          await loadVersion(entry, options),
          state.options.inlineBelowMs ?? 0,
          state.log,
        );
    if (state.isClosed()) {
      await chosen.pool.close();
      return undefined;
    }
    const loaded = {
      ...chosen,
      served: { ...chosen.served, loadMs: performance.now() - startedAt },
    };
    state.failed.delete(key);
    state.refusedChanges.delete(key);
    state.stamps.set(key, stamp);
    if (!replace) state.registry.add(loaded);
    else {
      const old = state.registry.replace(loaded);
      if (old) retire(state, old);
    }
    return loaded.served;
  } catch (error) {
    const problem = {
      name: entry.name,
      version: entry.version,
      path: entry.dir,
      error: error as ConveyorError,
    };
    state.failed.set(key, { stamp, problem });
    return problem;
  }
}

export async function runSync(state: SyncState): Promise<SyncReport> {
  const { registry, log } = state;
  const scan = await scanWithDependencies(state.options.repository, state.options.models ?? []);
  const known = new Set(
    state.problems.map((p) => `${keyOf(p.name, p.version)} ${p.error.message}`),
  );
  // A served version whose edited files are refused goes on serving: it is no problem of the scan.
  const problems = scan.problems.filter((p) => !keepsServing(state, p));
  const added: ServedModel[] = [];
  const reloaded: ServedModel[] = [];
  for (const entry of scan.entries) {
    if (registry.has(entry.name, entry.version)) {
      const outcome = await reloadIfChanged(state, entry);
      if (outcome) reloaded.push(outcome);
      continue;
    }
    const outcome = await loadEntry(state, entry);
    if (outcome === undefined) continue;
    if ('error' in outcome) problems.push(outcome);
    else added.push(outcome);
  }
  const onDisk = new Set([...scan.entries, ...problems].map((v) => keyOf(v.name, v.version)));
  for (const key of state.failed.keys()) if (!onDisk.has(key)) state.failed.delete(key);
  const removed: ServedModel[] = [];
  for (const { served } of registry.all()) {
    const here = onDisk.has(keyOf(served.entry.name, served.entry.version));
    if (here) state.gone.delete(served);
    else if (!state.gone.has(served)) removed.push(served);
  }
  for (const served of removed) state.gone.add(served);
  state.problems = problems;
  for (const p of problems.filter(
    (p) => !known.has(`${keyOf(p.name, p.version)} ${p.error.message}`),
  ))
    log.error(
      { model: p.name, version: p.version, code: p.error.code, path: p.path, err: p.error },
      'model not served',
    );
  for (const s of added) {
    const { name, version, config } = s.entry;
    log.info(
      {
        model: name,
        version,
        threads: s.threads,
        inline: s.inline ?? false,
        batching: s.batchable ? config.batching : false,
        warmupMs: s.warmupMs,
        state: s.state,
      },
      'model loaded',
    );
  }
  for (const s of removed)
    log.info({ model: s.entry.name, version: s.entry.version }, 'model folder removed');
  for (const s of reloaded)
    log.info({ model: s.entry.name, version: s.entry.version, state: s.state }, 'model reloaded');
  return { added, reloaded, removed, problems: [...problems] };
}

/**
 * Loads a served version again when its files changed since it was loaded (an edited model.json,
 * a replaced model.onnx). What cannot be served is logged once per change; the old load goes on.
 */
async function reloadIfChanged(
  state: SyncState,
  entry: ModelEntry,
): Promise<ServedModel | undefined> {
  const key = keyOf(entry.name, entry.version);
  const loadedStamp = state.stamps.get(key);
  if (loadedStamp === undefined || loadedStamp === (await versionStamp(entry))) return undefined;
  const outcome = await loadEntry(state, entry, true);
  if (outcome === undefined || !('error' in outcome)) return outcome;
  keepsServing(state, outcome);
  return undefined;
}

/**
 * True for a problem of a version served now (its files were edited into something that cannot
 * be served): logged once per reason, and the loaded version goes on serving.
 */
function keepsServing(state: SyncState, problem: ModelProblem): boolean {
  if (problem.version === undefined || !state.registry.has(problem.name, problem.version))
    return false;
  const key = keyOf(problem.name, problem.version);
  if (state.refusedChanges.get(key) !== problem.error.message) {
    state.refusedChanges.set(key, problem.error.message);
    state.log.error(
      {
        model: problem.name,
        version: problem.version,
        code: problem.error.code,
        err: problem.error,
      },
      'model files changed, but the new ones cannot be served; the loaded version goes on',
    );
  }
  return true;
}
