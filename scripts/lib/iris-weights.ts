/**
 * The fixed weights of the generated `iris` classifier, and a plain TypeScript implementation of
 * the same arithmetic: tests compare onnxruntime's outputs with this, computed independently.
 */
export const IRIS_FEATURES = [
  'sepal_length',
  'sepal_width',
  'petal_length',
  'petal_width',
] as const;
export const IRIS_LABELS = ['setosa', 'versicolor', 'virginica'] as const;

/** Per-feature standardisation: (x - mean) / std. */
export const IRIS_MEAN = [5.843, 3.057, 3.758, 1.199] as const;
export const IRIS_STD = [0.825, 0.434, 1.759, 0.76] as const;
/** Dense layer, [features][classes]. */
export const IRIS_WEIGHTS = [
  [-1.0, 0.5, 0.5],
  [1.25, -1.0, -0.25],
  [-2.0, 0.5, 1.5],
  [-2.0, 0.0, 2.0],
] as const;
export const IRIS_BIAS = [0.0, 1.0, 0.0] as const;

/** Softmax(standardise(x) · W + b) in float64 for each row. */
export function irisReference(rows: readonly (readonly number[])[]): number[][] {
  return rows.map((row) => {
    const z = row.map((v, i) => (v - (IRIS_MEAN[i] ?? 0)) / (IRIS_STD[i] ?? 1));
    const logits = IRIS_BIAS.map((b, c) =>
      z.reduce((sum, v, i) => sum + v * (IRIS_WEIGHTS[i]?.[c] ?? 0), b),
    );
    const max = Math.max(...logits);
    const exps = logits.map((l) => Math.exp(l - max));
    const total = exps.reduce((a, b) => a + b, 0);
    return exps.map((e) => e / total);
  });
}
