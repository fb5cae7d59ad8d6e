import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '@conveyor/engine';
import { toRows, toTensors } from '@conveyor/shared';
import { irisReference } from '../../../scripts/lib/iris-weights.js';
import { textLine } from '../../../scripts/lib/text-line.js';

const MODELS = new URL('../../../models', import.meta.url).pathname;
const LINE = 3 * 48 * 192;
const SIZES = [1, 2, 4, 8, 16, 32];

/** The shipped iris and text-direction models; text-direction capped at 4 rows a call. */
async function repository(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'conveyor-adaptive-'));
  await cp(join(MODELS, 'iris'), join(root, 'iris'), { recursive: true });
  await cp(join(MODELS, 'text-direction'), join(root, 'text-direction'), { recursive: true });
  const config = join(root, 'text-direction', '1', 'model.json');
  const json = JSON.parse(await readFile(config, 'utf8')) as Record<string, unknown>;
  await writeFile(config, JSON.stringify({ ...json, batching: { maxBatchSize: 4 } }));
  return root;
}

/** Deterministic pseudo-random iris rows. */
function flowers(count: number, seed = 3): number[][] {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  return Array.from({ length: count }, () => [
    4 + next() * 4,
    2 + next() * 2.5,
    1 + next() * 6,
    next() * 2.5,
  ]);
}

/** Probabilities of a predict outcome equal the TypeScript reference of its rows within 1e-6. */
function expectIris(got: number[][], rows: number[][]): void {
  expect(got).toHaveLength(rows.length);
  irisReference(rows).forEach((row, r) =>
    row.forEach((p, c) => expect(got[r]![c]).toBeCloseTo(p, 6)),
  );
}

describe('adaptive batching on real onnxruntime sessions', () => {
  let root: string;
  let engine: Engine;

  beforeAll(async () => {
    root = await repository();
    engine = await createEngine({ repository: root });
  }, 60_000);

  afterAll(async () => {
    await engine?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('returns each request its own outputs while it learns, and reports the sizes it ran', async () => {
    const input = flowers(600);
    const requests: number[][][] = [];
    for (let i = 0; i < input.length;) {
      const size = 1 + (i % 3);
      requests.push(input.slice(i, i + size));
      i += size;
    }
    // Three waves, so that later ones run at the sizes learned from the earlier ones.
    for (let wave = 0; wave < 3; wave += 1) {
      const outcomes = await Promise.all(
        requests.map((r) => engine.predict({ model: 'iris', inputs: toTensors({ features: r }) })),
      );
      outcomes.forEach((o, i) => expectIris(toRows(o.outputs.probabilities!), requests[i]!));
      for (const o of outcomes) expect(o.batch.rows).toBeLessThanOrEqual(32);
    }
    const stats = engine.batchStats('iris');
    expect(stats).toMatchObject({ adaptive: true, maxBatchSize: 32 });
    expect(SIZES).toContain(stats.bestSize);
    expect(stats.perSize.length).toBeGreaterThan(0);
    for (const size of stats.perSize) {
      expect(SIZES).toContain(size.size);
      expect(size.calls).toBeGreaterThan(0);
      expect(size.rowsPerSecond).toBeGreaterThanOrEqual(0);
    }
    expect(stats.perSize.some((s) => s.rowsPerSecond > 0)).toBe(true);
  });

  it('runs a request of 500 rows, over the cap of 32, in calls of at most 32 rows', async () => {
    const rows = flowers(500, 11);
    const outcome = await engine.predict({
      model: 'iris',
      inputs: toTensors({ features: rows }),
      deadline: Date.now() + 60_000,
    });
    expectIris(toRows(outcome.outputs.probabilities!), rows);
    expect(outcome.batch.rows).toBeGreaterThan(0);
    expect(outcome.batch.rows).toBeLessThanOrEqual(32);
  });

  it('classifies each line of a request split into calls of the cap', async () => {
    const words = ['CONVEYOR', 'CLEAR TEXT', 'STREAM', 'QUEUE', 'BATCH'];
    const lines = new Float32Array(words.length * 2 * LINE);
    words.forEach((word, i) => {
      lines.set(textLine(word, false), 2 * i * LINE);
      lines.set(textLine(word, true), (2 * i + 1) * LINE);
    });
    const outcome = await engine.predict({
      model: 'text-direction',
      inputs: toTensors({ x: { data: lines, shape: [words.length * 2, 3, 48, 192] } }),
    });
    const rows = toRows(outcome.outputs['softmax_0.tmp_0']!);
    expect(rows).toHaveLength(10);
    // The first three words are read right by the model: upright, then rotated.
    rows.slice(0, 6).forEach((row, i) => expect(row[0]! > 0.9).toBe(i % 2 === 0));
    expect(outcome.batch.rows).toBe(4);
    const stats = engine.batchStats('text-direction', '1');
    expect(stats.maxBatchSize).toBe(4);
    expect(stats.perSize).toMatchObject([
      { size: 2, calls: 1 },
      { size: 4, calls: 2 },
    ]);
    // Every line as its own request: the same probabilities as in the split request.
    for (let i = 0; i < 10; i += 1) {
      const alone = await engine.predict({
        model: 'text-direction',
        inputs: toTensors({
          x: { data: lines.slice(i * LINE, (i + 1) * LINE), shape: [1, 3, 48, 192] },
        }),
      });
      const [row] = toRows(alone.outputs['softmax_0.tmp_0']!);
      row!.forEach((p, c) => expect(rows[i]![c]).toBeCloseTo(p, 5));
    }
  }, 30_000);

  it('refuses the stats of a model it does not serve', () => {
    expect(() => engine.batchStats('absent')).toThrow(
      expect.objectContaining({ code: 'ERR_MODEL_NOT_FOUND' }),
    );
  });
});
