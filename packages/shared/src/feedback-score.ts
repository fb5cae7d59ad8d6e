import { ConveyorError } from './errors.js';
import type { Feedback } from './feedback.js';
import { toNumbers, type Tensor } from './tensor/tensor.js';

/** How a prediction scored against its feedback, summed over its rows. */
export type FeedbackScore =
  | { kind: 'label'; output: string; rows: number; correct: number }
  | { kind: 'value'; output: string; rows: number; absSum: number; sqSum: number };

const invalid = (message: string, details: Record<string, unknown> = {}) =>
  new ConveyorError('ERR_VALIDATION', message, { details });

/** One truth per row: an array as given, a single value for a single-row prediction. */
function perRow<T>(truth: T | readonly T[], rows: number, output: string): readonly T[] {
  const list = Array.isArray(truth) ? (truth as readonly T[]) : [truth as T];
  if (list.length !== rows)
    throw invalid(`feedback has ${list.length} truths but output "${output}" has ${rows} rows`, {
      output,
      rows,
    });
  return list;
}

/**
 * The class a row predicted: the index of its largest score when a row has several; the value
 * itself for one integer or string per row; 1 when a single probability is at least 0.5.
 */
function predictedClasses(tensor: Tensor, rows: number): (number | string)[] {
  if (tensor.dtype === 'string') {
    const data = tensor.data as string[];
    const width = data.length / rows;
    return Array.from({ length: rows }, (_, r) => data[r * width] as string);
  }
  const values = toNumbers(tensor);
  const width = values.length / rows;
  const floating = tensor.dtype.startsWith('float');
  return Array.from({ length: rows }, (_, r) => {
    const row = values.slice(r * width, (r + 1) * width);
    if (width === 1) return floating ? Number((row[0] as number) >= 0.5) : (row[0] as number);
    let best = 0;
    row.forEach((v, i) => {
      if (v > (row[best] as number)) best = i;
    });
    return best;
  });
}

/**
 * Scores a prediction's outputs against feedback: for a label, how many rows' top class was it
 * (a label string is matched to the output's `labels`); for a value, the sums of absolute and
 * squared errors. ERR_VALIDATION when the feedback does not fit the output.
 */
export function scoreFeedback(
  outputs: Readonly<Record<string, Tensor>>,
  feedback: Feedback,
  labelsOf: (output: string) => readonly string[] | undefined,
): FeedbackScore {
  const output = feedback.output ?? Object.keys(outputs)[0];
  const tensor = output === undefined ? undefined : outputs[output];
  if (output === undefined || !tensor)
    throw invalid(`the prediction has no output "${feedback.output ?? ''}"`, {
      outputs: Object.keys(outputs),
    });
  const elements = tensor.shape.reduce((n, d) => n * d, 1);
  const rows = tensor.shape.length === 0 ? 1 : (tensor.shape[0] as number);
  if (rows === 0 || elements === 0) throw invalid(`output "${output}" is empty`, { output });
  if (feedback.value !== undefined) {
    if (tensor.dtype === 'string' || tensor.dtype === 'bytes' || elements !== rows)
      throw invalid(`output "${output}" is not one number per row: give label, or name an output`, {
        output,
        shape: tensor.shape,
      });
    const truths = perRow(feedback.value, rows, output);
    const predicted = toNumbers(tensor);
    let absSum = 0;
    let sqSum = 0;
    truths.forEach((truth, r) => {
      const error = (predicted[r] as number) - truth;
      absSum += Math.abs(error);
      sqSum += error * error;
    });
    return { kind: 'value', output, rows, absSum, sqSum };
  }
  if (tensor.dtype === 'bytes') throw invalid(`output "${output}" holds bytes, not classes`);
  const truths = perRow(feedback.label as number | string, rows, output);
  const labels = labelsOf(output);
  const predicted = predictedClasses(tensor, rows);
  let correct = 0;
  truths.forEach((truth, r) => {
    const guess = predicted[r] as number | string;
    const truthAs =
      typeof guess === 'string'
        ? typeof truth === 'string'
          ? truth
          : labels?.[truth]
        : typeof truth === 'number'
          ? truth
          : labels?.indexOf(truth);
    if (truthAs === undefined || truthAs === -1)
      throw invalid(`label "${truth}" is not one of output "${output}"'s labels`, {
        output,
        labels: labels ?? null,
      });
    if (truthAs === guess) correct += 1;
  });
  return { kind: 'label', output, rows, correct };
}
