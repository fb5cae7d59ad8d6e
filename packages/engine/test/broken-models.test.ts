import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '@conveyor/engine';
import { toTensors } from '@conveyor/shared';

const MODELS = new URL('../../../models', import.meta.url).pathname;

/** A repository with one healthy model and one broken model of each kind beside it. */
async function brokenRepository(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'conveyor-models-'));
  await cp(join(MODELS, 'iris'), join(root, 'iris'), { recursive: true });
  const irisConfig = JSON.parse(
    await readFile(join(MODELS, 'iris', '1', 'model.json'), 'utf8'),
  ) as Record<string, unknown>;
  const variant = async (name: string, config: unknown, model?: Uint8Array | string) => {
    const dir = join(root, name, '1');
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'model.json'),
      typeof config === 'string' ? config : JSON.stringify({ ...(config as object), name }),
    );
    if (model !== undefined) await writeFile(join(dir, 'model.onnx'), model);
  };
  const irisBytes = await readFile(join(MODELS, 'iris', '1', 'model.onnx'));
  await variant('missing-file', irisConfig);
  await variant(
    'corrupt-file',
    irisConfig,
    new Uint8Array(2048).map((_, i) => (i * 131) % 251),
  );
  await variant('truncated-file', irisConfig, irisBytes.subarray(0, irisBytes.length / 2));
  await variant(
    'wrong-dtype',
    { ...irisConfig, inputs: [{ name: 'features', dtype: 'float64', shape: [-1, 4] }] },
    irisBytes,
  );
  await variant(
    'wrong-input-name',
    { ...irisConfig, inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 4] }] },
    irisBytes,
  );
  await variant(
    'wrong-fixed-dim',
    { ...irisConfig, inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 5] }] },
    irisBytes,
  );
  await variant('bad-json', '{ "name": ', irisBytes);
  await variant('bad-config', { ...irisConfig, threads: -1 }, irisBytes);
  await variant(
    'three-wrong',
    {
      inputs: [{ name: 'features', dtype: 'float64' }],
      outputs: [
        { name: 'probabilities', shape: [-1, 5] },
        { name: 'probs', labels: ['a', 'b', 'c'] },
      ],
    },
    irisBytes,
  );
  await variant('json-and-file', '{ "inputs": [ }');
  await mkdir(join(root, 'Bad Name', '1'), { recursive: true });
  await mkdir(join(root, 'iris', 'latest'), { recursive: true });
  return root;
}

describe('a repository with broken models', () => {
  let root: string;
  let engine: Engine;

  beforeAll(async () => {
    root = await brokenRepository();
    engine = await createEngine({ repository: root });
  }, 60_000);

  afterAll(async () => {
    await engine?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('still serves the healthy model', async () => {
    expect([...engine.models.keys()]).toEqual(['iris']);
    const { outputs } = await engine.predict({
      model: 'iris',
      inputs: toTensors({ features: [[5.1, 3.5, 1.4, 0.2]] }),
    });
    expect(outputs.probabilities!.shape).toEqual([1, 3]);
  });

  it('reports each broken model with its own code and path', () => {
    const problems = Object.fromEntries(
      engine.problems.map((p) => [`${p.name}@${p.version ?? '-'}`, p.error.code]),
    );
    expect(problems).toEqual({
      'Bad Name@-': 'ERR_MODEL_CONFIG_INVALID',
      'iris@latest': 'ERR_MODEL_CONFIG_INVALID',
      'bad-config@1': 'ERR_MODEL_CONFIG_INVALID',
      'bad-json@1': 'ERR_MODEL_CONFIG_INVALID',
      'corrupt-file@1': 'ERR_MODEL_UNAVAILABLE',
      'missing-file@1': 'ERR_MODEL_UNAVAILABLE',
      'truncated-file@1': 'ERR_MODEL_UNAVAILABLE',
      'wrong-dtype@1': 'ERR_MODEL_UNAVAILABLE',
      'wrong-fixed-dim@1': 'ERR_MODEL_UNAVAILABLE',
      'wrong-input-name@1': 'ERR_MODEL_UNAVAILABLE',
      'three-wrong@1': 'ERR_MODEL_UNAVAILABLE',
      'json-and-file@1': 'ERR_MODEL_CONFIG_INVALID',
    });
    for (const problem of engine.problems) expect(problem.path.startsWith(root)).toBe(true);
  });

  it('says in the message what does not match between model.json and the model', () => {
    const message = (name: string) => engine.problems.find((p) => p.name === name)!.error.message;
    expect(message('wrong-dtype')).toContain('float64');
    expect(message('wrong-dtype')).toContain('float32');
    expect(message('wrong-input-name')).toContain('"features"');
    expect(message('missing-file')).toContain('missing');
  });

  it('lists every problem of a version at once, each with its fix', () => {
    const error = engine.problems.find((p) => p.name === 'three-wrong')!.error;
    expect(error.issues.map((i) => i.path)).toEqual([
      'model.json inputs.0.dtype',
      'model.json outputs.1.name',
      'model.json outputs.0.shape',
    ]);
    const [dtype, name, shape] = error.issues.map((i) => i.message);
    expect(dtype).toBe(
      'model.json input "features" is float64 but the model\'s is float32: change dtype to float32 or remove it to use the model\'s',
    );
    expect(name).toContain('"probs"');
    expect(name).toContain('rename the entry or remove it');
    expect(shape).toContain('change it to 3 or -1');
    for (const issue of error.issues) expect(error.message).toContain(issue.message);
  });

  it('reports a broken model.json and a missing model file together', () => {
    const error = engine.problems.find((p) => p.name === 'json-and-file')!.error;
    expect(error.issues.map((i) => i.path)).toEqual(['model.json', 'model.onnx']);
    expect(error.message).toContain('2 problems');
  });

  it('answers a request for a broken model with ERR_MODEL_NOT_FOUND', async () => {
    await expect(
      engine.predict({ model: 'corrupt-file', inputs: toTensors({ features: [[1, 2, 3, 4]] }) }),
    ).rejects.toMatchObject({ code: 'ERR_MODEL_NOT_FOUND' });
  });

  it('serves only the models it is told to, and reports a named model that is absent', async () => {
    const only = await createEngine({ repository: root, models: ['iris', 'ghost'] });
    try {
      expect([...only.models.keys()]).toEqual(['iris']);
      expect(only.problems.map((p) => [p.name, p.error.code])).toEqual([
        ['ghost', 'ERR_MODEL_NOT_FOUND'],
        ['iris', 'ERR_MODEL_CONFIG_INVALID'],
      ]);
    } finally {
      await only.close();
    }
  });
});
