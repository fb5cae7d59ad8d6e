import type { Redis } from 'ioredis';
import type { Engine, ServedModel } from '@conveyor/engine';
import {
  DRIFT_RETENTION_MS,
  alertVersionsKey,
  alertsKey,
  driftMetaKey,
  driftSliceKey,
  driftSlicesKey,
  driftTallyOf,
  driftVersionsKey,
  emptyFeatureCounts,
  tallyInputs,
  throttledErrorLog,
  type Config,
  type Alerts,
  type DriftTally,
  type FeatureCounts,
  type Logger,
} from '@conveyor/shared';
import type { PredictionObserver } from './prediction-observer.js';

/** One version's published settings, and its drift counts since the last flush. */
interface VersionDrift {
  readonly model: string;
  readonly version: string;
  /** How its inputs are counted, with the baseline published for readers; undefined with alerts only. */
  readonly tally: DriftTally | undefined;
  readonly alerts: Alerts | undefined;
  counts: Counts;
  /** The meta and alerts are to be (re)published with the next flush. */
  publish: boolean;
}

/** Counts since the last flush: rows with a counted value, and each feature's counts. */
interface Counts {
  rows: number;
  features: FeatureCounts[];
}

const emptyCounts = (tally: DriftTally | undefined): Counts => ({
  rows: 0,
  features: tally ? emptyFeatureCounts(tally) : [],
});

/** The state of a served version with a baseline or alerts; undefined with neither. */
function versionDrift(served: ServedModel, log: Logger): VersionDrift | undefined {
  const { config } = served.entry;
  if (!config.baseline && !config.alerts) return undefined;
  const { name: model, version } = served.entry;
  const tally = driftTallyOf(config, served.signature.inputs);
  if (config.baseline && !tally)
    log.warn({ model, version }, 'baseline names no input feature of the model; drift is off');
  const counts = emptyCounts(tally);
  return { model, version, tally, alerts: config.alerts, counts, publish: true };
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
    const { counts, alerts, model, version } = state;
    const meta = state.tally?.meta;
    if (counts.rows === 0 && !state.publish && !served) return;
    state.counts = emptyCounts(state.tally);
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
      counts.features.forEach((feature, f) => {
        feature.bins.forEach((count, bin) => {
          if (count > 0) multi.hincrby(slice, `${f}:${bin}`, count);
        });
        if (feature.n > 0) {
          multi.hincrby(slice, `${f}:n`, feature.n);
          multi.hincrbyfloat(slice, `${f}:s`, feature.sum);
          multi.hincrbyfloat(slice, `${f}:q`, feature.squares);
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
      if (!stateOf(model, version)?.tally || config.DRIFT_SAMPLE <= 0) return 'no';
      return random() < config.DRIFT_SAMPLE ? 'inputs' : 'no';
    },
    completed(prediction) {
      const state = stateOf(prediction.model, prediction.version);
      if (!state?.tally || !prediction.inputs) return;
      if (tallyInputs(state.tally, prediction.inputs, state.counts.features))
        state.counts.rows += 1;
    },
    flush,
    async close() {
      clearInterval(timer);
      timer = undefined;
      await flush();
    },
  };
}
