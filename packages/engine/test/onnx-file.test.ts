import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOnnxFile, createEngine } from '@conveyor/engine';
import { createTensor, toNumbers } from '@conveyor/shared';
import {
  EXTERNAL_WEIGHTS,
  MODELS,
  externalDataModel,
  nestedExternalDataModel,
  tempRoot,
} from './support/onnx-models.js';

/** Writes `<root>/<name>/1/model.onnx` and returns its folder. */
async function version(root: string, name: string, bytes: Uint8Array): Promise<string> {
  const dir = join(root, name, '1');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), bytes);
  return dir;
}

describe('checkOnnxFile', () => {
  let root: string;
  let outside: string;

  beforeAll(async () => {
    root = await tempRoot('onnx-file');
    outside = await tempRoot('onnx-outside');
    await writeFile(join(outside, 'secret.bin'), EXTERNAL_WEIGHTS);
    const inside = await version(root, 'inside', externalDataModel('weights/w.bin'));
    await mkdir(join(inside, 'weights'));
    await writeFile(join(inside, 'weights', 'w.bin'), EXTERNAL_WEIGHTS);
    await version(root, 'absolute', externalDataModel(join(outside, 'secret.bin')));
    await version(root, 'dot-dot', externalDataModel('../../../secret.bin'));
    await version(root, 'nested', nestedExternalDataModel('/etc/passwd'));
    const linked = await version(root, 'linked', externalDataModel('w.bin'));
    await symlink(join(outside, 'secret.bin'), join(linked, 'w.bin'));
    await version(
      root,
      'garbage',
      new Uint8Array(4096).map((_, i) => (i * 131) % 251),
    );
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it('accepts the committed models, which keep their weights inside the file', async () => {
    for (const model of ['iris', 'text-direction']) {
      const path = join(MODELS, model, '1', 'model.onnx');
      await expect(checkOnnxFile(path)).resolves.toEqual({ externalData: [] });
    }
  });

  it('accepts external data in a file inside the folder, and names it', async () => {
    const dir = join(root, 'inside', '1');
    await expect(checkOnnxFile(join(dir, 'model.onnx'), dir)).resolves.toEqual({
      externalData: ['weights/w.bin'],
    });
  });

  it('refuses external data at an absolute path, through .., inside a subgraph or behind a link', async () => {
    for (const name of ['absolute', 'dot-dot', 'nested', 'linked']) {
      const dir = join(root, name, '1');
      const error = await checkOnnxFile(join(dir, 'model.onnx'), dir).catch((e: unknown) => e);
      expect(error, name).toMatchObject({ code: 'ERR_MODEL_UNSAFE' });
      expect((error as { issues: unknown[] }).issues, name).toHaveLength(1);
    }
  });

  it('refuses bytes that are not an ONNX model and a file that is missing', async () => {
    await expect(checkOnnxFile(join(root, 'garbage', '1', 'model.onnx'))).rejects.toMatchObject({
      code: 'ERR_MODEL_UNAVAILABLE',
    });
    const text = join(root, 'model.json.onnx');
    await writeFile(text, JSON.stringify({ inputs: [] }));
    await expect(checkOnnxFile(text)).rejects.toMatchObject({ code: 'ERR_MODEL_UNAVAILABLE' });
    await expect(checkOnnxFile(join(root, 'nope.onnx'))).rejects.toMatchObject({
      code: 'ERR_MODEL_UNAVAILABLE',
    });
  });

  it('makes the repository scan refuse an unsafe version and serve the one with its data inside', async () => {
    const engine = await createEngine({ repository: root });
    try {
      expect([...engine.models.keys()]).toEqual(['inside']);
      const codes = Object.fromEntries(engine.problems.map((p) => [p.name, p.error.code]));
      expect(codes).toMatchObject({
        absolute: 'ERR_MODEL_UNSAFE',
        'dot-dot': 'ERR_MODEL_UNSAFE',
        nested: 'ERR_MODEL_UNSAFE',
        linked: 'ERR_MODEL_UNSAFE',
        garbage: 'ERR_MODEL_UNAVAILABLE',
      });
      const { outputs } = await engine.predict({
        model: 'inside',
        inputs: { x: createTensor('float32', [1, 4], Float32Array.of(10, 20, 30, 40)) },
      });
      expect(toNumbers(outputs.y!)).toEqual([11, 22, 33, 44]);
    } finally {
      await engine.close();
    }
  }, 60_000);

  it('leaves the outside file untouched', async () => {
    expect(new Uint8Array(await readFile(join(outside, 'secret.bin')))).toEqual(EXTERNAL_WEIGHTS);
  });
});
