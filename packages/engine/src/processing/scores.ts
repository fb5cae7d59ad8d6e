/**
 * @file Pure arithmetic of the output steps over rows of scores: activations, argmax, top-k and
 * thresholds. A tensor of shape [..., C] is read as rows of C scores.
 */

/** Rows of `classes` scores, flat, as float64 numbers. */
export interface ScoreRows {
  readonly rows: number;
  readonly classes: number;
  readonly values: Float64Array;
}

/** Softmax of each row in place, stable against large scores. */
export function softmaxRows(scores: ScoreRows): void {
  const { rows, classes, values } = scores;
  for (let r = 0; r < rows; r += 1) {
    const from = r * classes;
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < classes; c += 1) max = Math.max(max, values[from + c] as number);
    let sum = 0;
    for (let c = 0; c < classes; c += 1) {
      const e = Math.exp((values[from + c] as number) - max);
      values[from + c] = e;
      sum += e;
    }
    for (let c = 0; c < classes; c += 1) values[from + c] = (values[from + c] as number) / sum;
  }
}

/** The logistic function of every score, in place. */
export function sigmoidAll(scores: ScoreRows): void {
  const { values } = scores;
  for (let i = 0; i < values.length; i += 1) values[i] = 1 / (1 + Math.exp(-(values[i] as number)));
}

/** The `k` best classes of each row, best first (ties: the lower index first), with their scores. */
export function topkRows(scores: ScoreRows, k: number): { index: Int32Array; score: Float32Array } {
  const { rows, classes, values } = scores;
  const take = Math.min(k, classes);
  const index = new Int32Array(rows * take);
  const score = new Float32Array(rows * take);
  const order = Array.from({ length: classes }, (_, c) => c);
  for (let r = 0; r < rows; r += 1) {
    const from = r * classes;
    const best = order
      .slice()
      .sort((a, b) => (values[from + b] as number) - (values[from + a] as number) || a - b)
      .slice(0, take);
    best.forEach((c, i) => {
      index[r * take + i] = c;
      score[r * take + i] = values[from + c] as number;
    });
  }
  return { index, score };
}

/**
 * For each row, the classes whose score reaches their threshold, best first, then -1 up to
 * `classes` entries; with their scores (0 after the last kept).
 */
export function thresholdRows(
  scores: ScoreRows,
  thresholds: readonly number[],
): { index: Int32Array; score: Float32Array } {
  const { rows, classes, values } = scores;
  const sorted = topkRows(scores, classes);
  const index = new Int32Array(rows * classes).fill(-1);
  const score = new Float32Array(rows * classes);
  for (let r = 0; r < rows; r += 1) {
    let kept = 0;
    for (let i = 0; i < classes; i += 1) {
      const c = sorted.index[r * classes + i] as number;
      const value = values[r * classes + c] as number;
      const limit = thresholds.length === 1 ? thresholds[0] : thresholds[c];
      if (value < (limit as number)) continue;
      index[r * classes + kept] = c;
      score[r * classes + kept] = value;
      kept += 1;
    }
  }
  return { index, score };
}
