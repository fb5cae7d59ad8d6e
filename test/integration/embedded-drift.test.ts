import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedClient, type EmbeddedClient } from '@conveyor/sdk/embedded';
import { MODELS } from '../support/workers.js';
import { FLOWERS } from '../support/iris-flowers.js';

/** A baseline on two of iris's features; the other two are not measured. */
const BASELINE = {
  rows: 150,
  features: {
    petal_length: {
      mean: 3.76,
      std: 1.76,
      histogram: { edges: [0, 2, 4, 8], counts: [50, 50, 50] },
    },
    sepal_width: { mean: 3.05, std: 0.43, histogram: { edges: [0, 3, 6], counts: [75, 75] } },
  },
};

/** PSI written out: Σ (a − e)·ln(a / e) over the bins' shares, an empty share taken as 1e-4. */
function independentPsi(expected: number[], actual: number[]): number {
  const [e, a] = [expected, actual].map((c) => c.reduce((x, y) => x + y, 0)) as [number, number];
  return expected.reduce((total, count, i) => {
    const ei = Math.max(count / e, 1e-4);
    const ai = Math.max((actual[i] ?? 0) / a, 1e-4);
    return total + (ai - ei) * Math.log(ai / ei);
  }, 0);
}

/** Counts per bin, outer bins open-ended, as the baseline's histogram reads values. */
function binCounts(edges: number[], values: number[]): number[] {
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (const v of values) {
    let bin = counts.length - 1;
    for (let i = 1; i < edges.length - 1; i++)
      if (v < (edges[i] as number)) {
        bin = i - 1;
        break;
      }
    counts[bin]! += 1;
  }
  return counts;
}

const column = (c: number) => FLOWERS.map((row) => Math.fround(row[c] as number));
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

describe('input drift on the embedded client', () => {
  let repository: string;
  let client: EmbeddedClient;

  beforeAll(async () => {
    repository = await mkdtemp(join(tmpdir(), 'conveyor-embedded-drift-'));
    const config = JSON.parse(
      await readFile(join(MODELS, 'iris', '1', 'model.json'), 'utf8'),
    ) as Record<string, unknown>;
    for (const version of ['1', '2']) {
      await mkdir(join(repository, 'iris', version), { recursive: true });
      await copyFile(
        join(MODELS, 'iris', '1', 'model.onnx'),
        join(repository, 'iris', version, 'model.onnx'),
      );
      // Version 2 has no baseline: it has no drift to report.
      const own = version === '1' ? { ...config, baseline: BASELINE } : config;
      await writeFile(join(repository, 'iris', version, 'model.json'), JSON.stringify(own));
    }
    client = await createEmbeddedClient({ repository });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    if (repository) await rm(repository, { recursive: true, force: true });
  });

  it('reports the versions with a baseline, with no rows before any prediction', async () => {
    const report = await client.drift('iris');
    expect(report).toMatchObject({ model: 'iris', windowMs: 3_600_000 });
    expect(report.versions.map((v) => v.version)).toEqual(['1']);
    expect(report.versions[0]).toMatchObject({ rows: 0, score: null });
    expect((await client.drift('nothing')).versions).toEqual([]);
  });

  it('scores every input of its predictions against the baseline: PSI, mean and std', async () => {
    await client.predict('iris', { features: FLOWERS.slice(0, 5) }, { version: '1' });
    for (const row of FLOWERS.slice(5)) await client.predict('iris', { features: [row] });
    // Version 2 is production (the newest): those went there, and count nowhere.
    await client.predict('iris', { features: FLOWERS }, { version: '2' });
    for (const row of FLOWERS.slice(5))
      await client.predict('iris', { features: [row] }, { version: '1' });
    const report = await client.drift('iris', { version: '1' });
    const [version] = report.versions;
    expect(version?.rows).toBe(FLOWERS.length);
    const expectations = [
      ['petal_length', 2],
      ['sepal_width', 1],
    ] as const;
    for (const [name, c] of expectations) {
      const feature = version?.features.find((f) => f.name === name);
      const { histogram } = BASELINE.features[name];
      const values = column(c);
      const psi = independentPsi(histogram.counts, binCounts(histogram.edges, values));
      expect(feature?.rows, name).toBe(FLOWERS.length);
      expect(feature?.psi, name).toBeCloseTo(psi, 9);
      expect(feature?.mean, name).toBeCloseTo(mean(values), 6);
      const variance = mean(values.map((v) => v * v)) - mean(values) ** 2;
      expect(feature?.std, name).toBeCloseTo(Math.sqrt(variance), 6);
    }
    const scores = version?.features.map((f) => f.psi ?? 0) ?? [];
    expect(version?.score).toBe(Math.max(...scores));
    expect(version?.features.map((f) => f.name).sort()).toEqual(['petal_length', 'sepal_width']);
  });

  it('refuses a bad query with ERR_VALIDATION', async () => {
    await expect(client.drift('iris', { windowMs: 0 })).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
    });
    await expect(client.drift('../iris')).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
  });
});
