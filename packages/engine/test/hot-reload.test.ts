import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '@conveyor/engine';
import { toTensors } from '@conveyor/shared';
import { memoryLogger } from '../../../test/support/workers.js';
import { bareCopy, tempRoot } from './support/onnx-models.js';

const FLOWER = { features: [[5.1, 3.5, 1.4, 0.2]] };
const versionsOf = (engine: Engine, name: string) =>
  (engine.models.get(name) ?? []).map((v) => v.entry.version);

describe('changing what an engine serves while it runs', () => {
  let root: string;
  let engine: Engine;
  const { logger, records } = memoryLogger();

  beforeAll(async () => {
    root = await tempRoot('hot-reload');
    await bareCopy(root, 'iris');
    await bareCopy(root, 'text-direction');
    engine = await createEngine({ repository: root, models: ['iris'], logger });
  }, 60_000);

  afterAll(async () => {
    await engine?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('loads a version copied in, once, even when syncs overlap', async () => {
    const models = engine.models;
    await bareCopy(root, 'iris', 'iris', '2');
    const [first, second] = await Promise.all([engine.sync(), engine.sync()]);
    expect(first.added.map((s) => `${s.entry.name}@${s.entry.version}`)).toEqual(['iris@2']);
    expect(second.added).toEqual([]);
    expect(first.added[0]?.state).toBe('ready');
    expect(engine.models).toBe(models);
    expect(versionsOf(engine, 'iris')).toEqual(['1', '2']);
    expect(engine.models.has('text-direction')).toBe(false);
    const outcome = await engine.predict({ model: 'iris', inputs: toTensors(FLOWER) });
    expect(outcome.version).toBe('2');
  }, 60_000);

  it('reports a version whose folder went, once, and keeps serving it until unloaded', async () => {
    await rm(join(root, 'iris', '1'), { recursive: true });
    const first = await engine.sync();
    const second = await engine.sync();
    expect(first.removed.map((s) => s.entry.version)).toEqual(['1']);
    expect(second.removed).toEqual([]);
    const outcome = await engine.predict({
      model: 'iris',
      version: '1',
      inputs: toTensors(FLOWER),
    });
    expect(outcome.version).toBe('1');
  });

  it('lets calls in flight finish on unload, and refuses new ones', async () => {
    const settled: string[] = [];
    const inFlight = Array.from({ length: 200 }, () =>
      engine
        .predict({ model: 'iris', version: '1', inputs: toTensors(FLOWER) })
        .then((o) => settled.push(`predict ${o.version}`)),
    );
    const unloading = engine.unload('iris', '1').then(() => settled.push('unloaded'));
    await expect(
      engine.predict({ model: 'iris', version: '1', inputs: toTensors(FLOWER) }),
    ).rejects.toMatchObject({ code: 'ERR_MODEL_VERSION_NOT_FOUND' });
    await Promise.all([...inFlight, unloading]);
    expect(settled).toHaveLength(201);
    expect(settled.at(-1)).toBe('unloaded');
    expect(versionsOf(engine, 'iris')).toEqual(['2']);
    expect(records.some((r) => r.msg === 'model unloaded' && r.version === '1')).toBe(true);
  });

  it('answers ERR_MODEL_NOT_FOUND once the last version is unloaded', async () => {
    await engine.unload('iris', '2');
    expect(engine.models.has('iris')).toBe(false);
    await expect(
      engine.predict({ model: 'iris', inputs: toTensors(FLOWER) }),
    ).rejects.toMatchObject({ code: 'ERR_MODEL_NOT_FOUND' });
    await expect(engine.unload('iris', '2')).rejects.toMatchObject({
      code: 'ERR_MODEL_NOT_FOUND',
    });
  });

  it('loads again what is still on disk, and problems follow the latest scan', async () => {
    await writeFile(join(root, 'iris', '2', 'model.json'), '{ "threads": "many" }');
    await bareCopy(root, 'iris', 'iris', '3');
    const report = await engine.sync();
    expect(report.added.map((s) => s.entry.version)).toEqual(['3']);
    expect(engine.problems.map((p) => `${p.name}@${p.version} ${p.error.code}`)).toEqual([
      'iris@2 ERR_MODEL_CONFIG_INVALID',
    ]);
    await rm(join(root, 'iris', '2', 'model.json'));
    const fixed = await engine.sync();
    expect(fixed.added.map((s) => s.entry.version)).toEqual(['2']);
    expect(engine.problems).toEqual([]);
    expect(versionsOf(engine, 'iris')).toEqual(['2', '3']);
  }, 60_000);

  it('serves an edited model.json in place, without losing a call in flight', async () => {
    const labels = ['setosa', 'versicolor', 'virginica'];
    const inFlight = Array.from({ length: 100 }, () =>
      engine.predict({ model: 'iris', version: '3', inputs: toTensors(FLOWER) }),
    );
    const config = { outputs: [{ name: 'probabilities', labels }] };
    await writeFile(join(root, 'iris', '3', 'model.json'), JSON.stringify(config));
    const report = await engine.sync();
    expect(report.reloaded.map((s) => `${s.entry.name}@${s.entry.version}`)).toEqual(['iris@3']);
    expect(report.added).toEqual([]);
    const outputs = engine.resolve('iris', '3').signature.outputs;
    expect(outputs.find((o) => o.name === 'probabilities')?.labels).toEqual(labels);
    const answered = await Promise.all(inFlight);
    expect(answered.every((o) => o.version === '3')).toBe(true);
    expect((await engine.predict({ model: 'iris', inputs: toTensors(FLOWER) })).version).toBe('3');
    expect((await engine.sync()).reloaded).toEqual([]);
    expect(records.some((r) => r.msg === 'model reloaded' && r.version === '3')).toBe(true);
  }, 60_000);

  it('keeps serving the loaded version when the edited files cannot be served, and says so once', async () => {
    const before = engine.resolve('iris', '3');
    await writeFile(join(root, 'iris', '3', 'model.json'), '{ "threads": "many" }');
    expect((await engine.sync()).reloaded).toEqual([]);
    expect((await engine.sync()).reloaded).toEqual([]);
    expect(engine.resolve('iris', '3')).toBe(before);
    expect(engine.problems).toEqual([]);
    const said = records.filter((r) => String(r.msg).startsWith('model files changed'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ version: '3', code: 'ERR_MODEL_CONFIG_INVALID' });
    expect((await engine.predict({ model: 'iris', inputs: toTensors(FLOWER) })).version).toBe('3');
  }, 60_000);
});
