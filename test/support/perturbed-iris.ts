import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { IRIS_MEAN, IRIS_STD, IRIS_WEIGHTS } from '../../scripts/lib/iris-weights.js';
import type { TempRepository } from './repository.js';

// onnx-proto is CommonJS: its namespace is a property of the default export at run time.
const { onnx } = onnxProto;

/**
 * Adds version `version` of iris to a temporary repository: the shipped model with its dense
 * layer's bias replaced by `bias` (three numbers), the rest unchanged.
 */
export async function addPerturbedIris(
  repository: TempRepository,
  version: string,
  bias: readonly number[],
): Promise<void> {
  await repository.addVersion('iris', version);
  const file = join(repository.root, 'iris', version, 'model.onnx');
  const model = onnx.ModelProto.decode(await readFile(file));
  const initializer = model.graph?.initializer?.find((t) => t.name === 'bias');
  if (!initializer) throw new Error('iris has no bias initializer');
  initializer.floatData = [...bias];
  await writeFile(file, onnx.ModelProto.encode(model).finish());
}

/** Softmax(standardise(x) · W + bias) in float64: iris's arithmetic with any bias, without ORT. */
export function irisScores(
  rows: readonly (readonly number[])[],
  bias: readonly number[],
): number[][] {
  return rows.map((row) => {
    const z = row.map((v, i) => (v - (IRIS_MEAN[i] ?? 0)) / (IRIS_STD[i] ?? 1));
    const logits = bias.map((b, c) =>
      z.reduce((s, v, i) => s + v * (IRIS_WEIGHTS[i]?.[c] ?? 0), b),
    );
    const max = Math.max(...logits);
    const exps = logits.map((l) => Math.exp(l - max));
    const total = exps.reduce((a, b) => a + b, 0);
    return exps.map((e) => e / total);
  });
}

/** What a comparison of two lists of score rows should report, worked out here independently. */
export function expectedComparison(a: readonly number[][], b: readonly number[][]) {
  const top = (r: readonly number[]) => r.indexOf(Math.max(...r));
  let agree = 0;
  let maxAbs = 0;
  let maxRel = 0;
  a.forEach((row, i) => {
    const other = b[i] ?? [];
    if (top(row) === top(other)) agree += 1;
    row.forEach((x, j) => {
      const y = other[j] ?? 0;
      maxAbs = Math.max(maxAbs, Math.abs(x - y));
      maxRel = Math.max(maxRel, Math.abs(x - y) / Math.max(Math.abs(x), Math.abs(y)));
    });
  });
  return { agreement: agree / a.length, maxAbs, maxRel };
}

/** 40 flowers spread over the three classes (deterministic). */
export const FLOWERS: number[][] = Array.from({ length: 40 }, (_, i) => [
  4.5 + (i % 8) * 0.45,
  2.2 + (i % 5) * 0.4,
  1.0 + ((i * 0.37) % 5.9),
  0.1 + ((i * 0.23) % 2.4),
]);

/** Iris's own bias, and the perturbed one version 3 gets. */
export const IRIS_BIAS_SHIPPED = [0, 1, 0] as const;
export const IRIS_BIAS_PERTURBED = [0, 0.2, 0.8] as const;
