import type { ModelConfig, TensorSpec } from '../schemas/model-config.js';
import type { Tensor } from '../tensor/tensor.js';
import { binIndex } from './baseline.js';
import { driftFeatures, visitFeatureValues, type FeatureSource } from './drift-features.js';
import { baselineId, type DriftMeta, type FeatureCounts } from './drift-report.js';

/** How a version's inputs are counted for drift: its published meta, where each feature is read. */
export interface DriftTally {
  meta: DriftMeta;
  sources: readonly FeatureSource[];
  /** Each feature's baseline bin edges. */
  edges: readonly (readonly number[])[];
}

/**
 * The drift tally of a version: its model.json `baseline`, restricted to the features of its
 * external inputs that the baseline describes. Undefined without a baseline, or when the baseline
 * names none of those features (drift is then off).
 */
export function driftTallyOf(
  config: Pick<ModelConfig, 'baseline' | 'alerts' | 'preprocess'>,
  inputs: readonly TensorSpec[],
): DriftTally | undefined {
  const { baseline, alerts, preprocess } = config;
  if (!baseline) return undefined;
  const sources = driftFeatures(inputs, preprocess).filter(
    (source) => baseline.features[source.name] !== undefined,
  );
  if (sources.length === 0) return undefined;
  const edges = sources.map((s) => baseline.features[s.name]?.histogram.edges ?? [0, 1]);
  const meta: DriftMeta = {
    id: baselineId(baseline),
    features: sources.map((s) => s.name),
    baseline,
    ...(alerts && { alerts }),
  };
  return { meta, sources, edges };
}

/** Empty counts for each feature of a tally, as scoreDrift reads them. */
export function emptyFeatureCounts(tally: DriftTally): FeatureCounts[] {
  return tally.edges.map((e) => ({
    bins: new Array<number>(e.length - 1).fill(0),
    n: 0,
    sum: 0,
    squares: 0,
  }));
}

/**
 * Adds every value of a request's inputs to `counts`: per feature, the value's baseline bin, the
 * count, sum and sum of squares. Returns whether any value was counted.
 */
export function tallyInputs(
  tally: DriftTally,
  inputs: Readonly<Record<string, Tensor>>,
  counts: FeatureCounts[],
): boolean {
  let seen = false;
  visitFeatureValues(tally.sources, inputs, (f, value) => {
    const bin = binIndex(tally.edges[f] ?? [], value);
    const feature = counts[f];
    if (bin < 0 || !feature) return;
    feature.bins[bin] = (feature.bins[bin] ?? 0) + 1;
    feature.n += 1;
    feature.sum += value;
    feature.squares += value * value;
    seen = true;
  });
  return seen;
}

/** Adds `from` into `into`, feature by feature (for summing time slices over a window). */
export function addFeatureCounts(into: FeatureCounts[], from: readonly FeatureCounts[]): void {
  from.forEach((feature, f) => {
    const target = (into[f] ??= {
      bins: new Array<number>(feature.bins.length).fill(0),
      n: 0,
      sum: 0,
      squares: 0,
    });
    feature.bins.forEach((count, bin) => (target.bins[bin] = (target.bins[bin] ?? 0) + count));
    target.n += feature.n;
    target.sum += feature.sum;
    target.squares += feature.squares;
  });
}
