import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readModelVersion } from '@conveyor/engine';
import { BaselineSchema } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { tempRepository, type TempRepository } from '../../../test/support/repository.js';
import { runCli, tempDir } from './support.js';

const CSV = `sepal_length,sepal_width,petal_length,petal_width,species
5.1,3.5,1.4,0.2,setosa
4.9,3.0,1.4,0.2,setosa
4.7,3.2,1.3,0.2,setosa
7.0,3.2,4.7,1.4,versicolor
6.4,3.2,4.5,1.5,versicolor
6.9,3.1,4.9,1.5,versicolor
6.3,3.3,6.0,2.5,virginica
5.8,2.7,5.1,1.9,virginica
7.1,3.0,5.9,2.1,virginica
`;

describe('conveyor baseline', () => {
  let repository: TempRepository;
  const dir = tempDir();
  const csv = join(dir, 'train.csv');

  beforeAll(async () => {
    repository = await tempRepository({ iris: ['1'] });
    await writeFile(csv, CSV);
  });
  afterAll(() => repository?.remove());

  it('prints the baseline of each labelled input column from a CSV, as numpy computes it', async () => {
    const run = await runCli([
      'baseline',
      'iris',
      '--from',
      csv,
      '--bins',
      '4',
      '--repository',
      repository.root,
    ]);
    expect(run.code).toBe(0);
    const baseline = BaselineSchema.parse(JSON.parse(run.stdout));
    expect(baseline.rows).toBe(9);
    expect(Object.keys(baseline.features)).toEqual([
      'sepal_length',
      'sepal_width',
      'petal_length',
      'petal_width',
    ]);
    // numpy: np.quantile(x, np.linspace(0, 1, 5)), np.histogram(x, edges), x.mean(), x.std().
    const sepal = baseline.features.sepal_length;
    expect(sepal?.histogram).toEqual({ edges: [4.7, 5.1, 6.3, 6.9, 7.1], counts: [2, 2, 2, 3] });
    expect(sepal?.mean).toBeCloseTo(6.022222222222222, 12);
    expect(sepal?.std).toBeCloseTo(0.8828964677919525, 12);
  }, 30_000);

  it('writes it into the version model.json with --write, which the model repository accepts', async () => {
    const run = await runCli([
      'baseline',
      'iris',
      '--from',
      csv,
      '--write',
      '--repository',
      repository.root,
      // Nothing listens there: the workers are not told, and the command still succeeds.
      '--redis-url',
      'redis://127.0.0.1:1',
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      'workers not asked to rescan (Redis did not answer): they load it at their next rescan',
    );
    const dir = join(repository.root, 'iris', '1');
    const entry = await readModelVersion(dir, 'iris', '1');
    expect(entry.config.baseline?.rows).toBe(9);
    // Every other field is kept.
    const written = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as {
      inputs: unknown[];
    };
    expect(written.inputs).toHaveLength(1);
  }, 30_000);

  it('refuses data that lacks a feature of the model, naming it (exit 2)', async () => {
    const bad = join(dir, 'bad.ndjson');
    await writeFile(bad, '{"sepal_length": 5.1, "sepal_width": 3.5}\n');
    const run = await runCli(['baseline', 'iris', '--from', bad, '--repository', repository.root]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('petal_length');
  }, 30_000);
});

describe('conveyor models drift', () => {
  const prefix = uniquePrefix();
  afterAll(() => dropPrefix(inject('redisUrl'), prefix));

  it('reports no version for a model without a published baseline', async () => {
    const env = { REDIS_URL: inject('redisUrl'), REDIS_KEY_PREFIX: prefix };
    const run = await runCli(['models', 'drift', 'iris', '--json'], { env });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ model: 'iris', windowMs: 3_600_000, versions: [] });
    const bad = await runCli(['models', 'drift', 'iris', '--window', '2d'], { env });
    expect(bad.code).toBe(2);
  }, 30_000);
});
