import type { Redis } from 'ioredis';
import type { Engine, ServedModel } from '@conveyor/engine';
import {
  DRIFT_RETENTION_MS,
  alertVersionsKey,
  alertsKey,
  baselineId,
  binIndex,
  driftFeatures,
  driftMetaKey,
  driftSliceKey,
  driftSlicesKey,
  driftVersionsKey,
  throttledErrorLog,
  visitFeatureValues,
  type Config,
  type Alerts,
  type DriftMeta,
  type FeatureSource,
  type Logger,
} from '@conveyor/shared';
import type { PredictionObserver } from './prediction-observer.js';

/** One version's published settings, and its drift counts since the last flush. */
interface VersionDrift {
  readonly model: string;
  readonly version: string;
  /** Its baseline, published for readers; undefined when it has only alerts. */
  readonly meta: DriftMeta | undefined;
  readonly alerts: Alerts | undefined;
  readonly sources: readonly FeatureSource[];
  readonly edges: readonly (readonly number[])[];
  counts: Counts;
  /** The meta and alerts are to be (re)published with the next flush. */
  publish: boolean;
}

interface Counts {
  rows: number;
  bins: Float64Array[];
  n: Float64Array;
  sum: Float64Array;
  squares: Float64Array;
}

const emptyCounts = (edges: readonly (readonly number[])[]): Counts => ({
  rows: 0,
  bins: edges.map((e) => new Float64Array(e.length - 1)),
  n: new Float64Array(edges.length),
  sum: new Float64Array(edges.length),
  squares: new Float64Array(edges.length),
});

/** The state of a served version with a baseline or alerts; undefined with neither. */
function versionDrift(served: ServedModel, log: Logger): VersionDrift | undefined {
  const { baseline, alerts, preprocess } = served.entry.config;
  if (!baseline && !alerts) return undefined;
  const { name: model, version } = served.entry;
  const sources = !baseline
    ? []
    : driftFeatures(served.signature.inputs, preprocess).filter(
        (source) => baseline.features[source.name] !== undefined,
      );
  if (baseline && sources.length === 0)
    log.warn({ model, version }, 'baseline names no input feature of the model; drift is off');
  const edges = sources.map((s) => baseline?.features[s.name]?.histogram.edges ?? [0, 1]);
  const meta: DriftMeta | undefined =
    baseline && sources.length > 0
      ? {
          id: baselineId(baseline),
          features: sources.map((s) => s.name),
          baseline,
          ...(alerts && { alerts }),
        }
      : undefined;
  const counts = emptyCounts(edges);
  return { model, version, meta, alerts, sources, edges, counts, publish: true };
}

export interface DriftObserverOptions {
  // Only MULTI: a plain connection and a cluster both have it (every key is of one model).
  connection: Pick<Redis, 'multi'>;
  config: Pick<Config, 'REDIS_KEY_PREFIX' | 'DRIFT_SAMPLE' | 'DRIFT_FLUSH_MS' | 'DRIFT_SLICE_MS'>;
  engine: Pick<Engine, 'models'>;
  log: Logger;
  /** Draws the sample; Math.random by default. */
  random?: () => number;
}

/** The drift observer: counts sampled inputs and adds them to Redis every DRIFT_FLUSH_MS. */
export interface DriftObserver extends PredictionObserver {
  /** Adds the counts taken since the last flush to Redis now. Never rejects. */
  flush(): Promise<void>;
  /** Stops the timer and flushes what is left. */
  close(): Promise<void>;
}

/**
 * Counts, for versions whose model.json has a `baseline`, a DRIFT_SAMPLE share of their jobs'
 * input values: per feature, the values in each baseline bin, their count, sum and sum of squares.
 * Every DRIFT_FLUSH_MS the counts are added (HINCRBY, HINCRBYFLOAT) to the hash of the current
 * DRIFT_SLICE_MS time slice, so that several workers add up; a failed flush drops its counts.
 */
export function createDriftObserver(options: DriftObserverOptions): DriftObserver {
  const { connection, config, engine } = options;
  const log = options.log.child({ component: 'drift' });
  const random = options.random ?? Math.random;
  const prefix = config.REDIS_KEY_PREFIX;
  const states = new WeakMap<ServedModel, VersionDrift | null>();
  const active = new Map<string, VersionDrift>();
  const warn = throttledErrorLog(log, 'drift flush failed');

  const stateOf = (model: string, version: string): VersionDrift | undefined => {
    const served = engine.models.get(model)?.find((v) => v.entry.version === version);
    if (!served) return undefined;
    let state = states.get(served);
    if (state === undefined) {
      state = versionDrift(served, log) ?? null;
      states.set(served, state);
      if (state) active.set(`${model}@${version}`, state);
    }
    return state ?? undefined;
  };

  // A served version refreshes what it published at every flush, traffic or not: alerts are judged
  // (and feedback arrives) long after a version's last job.
  const flushVersion = async (state: VersionDrift, now: number, served: boolean): Promise<void> => {
    const { counts, meta, alerts, model, version } = state;
    if (counts.rows === 0 && !state.publish && !served) return;
    state.counts = emptyCounts(state.edges);
    const ttlS = Math.ceil((DRIFT_RETENTION_MS + config.DRIFT_SLICE_MS) / 1000);
    const multi = connection.multi();
    if (alerts) {
      const [key, versions] = [alertsKey(prefix, model, version), alertVersionsKey(prefix, model)];
      if (state.publish) multi.set(key, JSON.stringify(alerts)).sadd(versions, version);
      multi.expire(key, ttlS).expire(versions, ttlS);
    }
    if (meta) {
      const [key, versions] = [
        driftMetaKey(prefix, model, version),
        driftVersionsKey(prefix, model),
      ];
      if (state.publish) multi.set(key, JSON.stringify(meta)).sadd(versions, version);
      multi.expire(key, ttlS).expire(versions, ttlS);
    }
    if (meta && counts.rows > 0) {
      const start = Math.floor(now / config.DRIFT_SLICE_MS) * config.DRIFT_SLICE_MS;
      const slice = driftSliceKey(prefix, model, version, meta.id, start);
      counts.bins.forEach((bins, f) => {
        bins.forEach((count, bin) => {
          if (count > 0) multi.hincrby(slice, `${f}:${bin}`, count);
        });
        if ((counts.n[f] ?? 0) > 0) {
          multi.hincrby(slice, `${f}:n`, counts.n[f] ?? 0);
          multi.hincrbyfloat(slice, `${f}:s`, counts.sum[f] ?? 0);
          multi.hincrbyfloat(slice, `${f}:q`, counts.squares[f] ?? 0);
        }
      });
      const slices = driftSlicesKey(prefix, model, version, meta.id);
      multi
        .expire(slice, ttlS)
        .zadd(slices, start, String(start))
        .zremrangebyscore(slices, '-inf', now - DRIFT_RETENTION_MS - config.DRIFT_SLICE_MS)
        .expire(slices, ttlS);
    }
    await multi.exec();
    state.publish = false;
  };

  const flush = async (): Promise<void> => {
    const now = Date.now();
    // Every loaded version publishes its baseline and alerts, not only those that ran a job here.
    const served = new Set<VersionDrift>();
    for (const [model, versions] of engine.models)
      for (const loaded of versions) {
        const state = stateOf(model, loaded.entry.version);
        if (state) served.add(state);
      }
    for (const [key, state] of active) {
      await flushVersion(state, now, served.has(state)).catch((err: unknown) => {
        state.publish = true;
        warn(err as Error);
      });
      // Unloaded (or reloaded under a new state): its last counts are in, its keys may expire.
      if (!served.has(state)) active.delete(key);
    }
  };

  let timer: NodeJS.Timeout | undefined = setInterval(() => void flush(), config.DRIFT_FLUSH_MS);
  timer.unref();

  return {
    wants(model, version) {
      // Looked up first: a version with alerts publishes them whatever the sample.
      if (!stateOf(model, version)?.meta || config.DRIFT_SAMPLE <= 0) return 'no';
      return random() < config.DRIFT_SAMPLE ? 'inputs' : 'no';
    },
    completed(prediction) {
      const state = stateOf(prediction.model, prediction.version);
      if (!state || !prediction.inputs) return;
      const { counts, edges } = state;
      let seen = false;
      visitFeatureValues(state.sources, prediction.inputs, (f, value) => {
        const bin = binIndex(edges[f] ?? [], value);
        if (bin < 0) return;
        (counts.bins[f] as Float64Array)[bin]! += 1;
        counts.n[f]! += 1;
        counts.sum[f]! += value;
        counts.squares[f]! += value * value;
        seen = true;
      });
      if (seen) counts.rows += 1;
    },
    flush,
    async close() {
      clearInterval(timer);
      timer = undefined;
      await flush();
    },
  };
}
