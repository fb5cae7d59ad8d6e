import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, inspectVersion, readModelVersion, type Engine } from '@conveyor/engine';
import { createTensor } from '@conveyor/shared';
import { characterErrorRate } from '../../../test/support/cer.js';
import { renderPage } from '../../../test/support/render-text.js';
import { MODELS, tempRoot } from './support/onnx-models.js';

/** The shipped pipeline's model.json, in a version folder without its files. */
async function brokenRepository(root: string): Promise<void> {
  const broken = join(root, 'ocr', '1');
  await mkdir(broken, { recursive: true });
  await copyFile(join(MODELS, 'ocr', '1', 'model.json'), join(broken, 'model.json'));
}

describe('the shipped ocr pipeline, served by the engine', () => {
  let root: string;
  let engine: Engine;
  beforeAll(async () => {
    root = await tempRoot('ocr-pipeline');
    await brokenRepository(root);
    engine = await createEngine({ repository: MODELS, models: ['ocr'] });
  }, 60_000);
  afterAll(async () => {
    await engine.close();
    await rm(root, { recursive: true, force: true });
  });

  it('serves the models the pipeline calls when asked for the pipeline alone', () => {
    expect([...engine.models.keys()].sort()).toEqual(['ocr', 'text-direction']);
  });

  it('is inspected from its model.json, without loading its models', async () => {
    const entry = await readModelVersion(join(MODELS, 'ocr', '1'), 'ocr', '1');
    const served = await inspectVersion(entry);
    expect(served.signature).toEqual(engine.resolve('ocr').signature);
  });

  it('announces an image in and lines out', () => {
    const { signature, batchable } = engine.resolve('ocr');
    expect(signature.inputs).toMatchObject([{ name: 'image', dtype: 'bytes', shape: [1] }]);
    expect(signature.outputs.map((o) => [o.name, o.dtype, o.shape])).toEqual([
      ['text', 'string', [-1]],
      ['confidence', 'float32', [-1]],
      ['box', 'float32', [-1, 4, 2]],
    ]);
    expect(batchable).toBe(false);
  });

  it('refuses a pipeline whose files are missing', async () => {
    const broken = await createEngine({ repository: root });
    try {
      expect(broken.models.size).toBe(0);
      expect(broken.problems.map((p) => [p.name, p.error.code])).toEqual([
        ['ocr', 'ERR_MODEL_UNAVAILABLE'],
      ]);
    } finally {
      await broken.close();
    }
  });

  it('reads a rendered page, the classifier called through the repository', async () => {
    const truth = ['Pipelines fan out', 'and fan in again'];
    const page = await renderPage({
      width: 800,
      height: 300,
      lines: [
        { text: truth[0]!, x: 40, y: 90, size: 34 },
        { text: truth[1]!, x: 700, y: 200, size: 34, rotate: 180 },
      ],
    });
    const { outputs } = await engine.predict({
      model: 'ocr',
      inputs: { image: createTensor('bytes', [1], [new Uint8Array(page.png)]) },
    });
    expect(outputs.text!.shape).toEqual([2]);
    expect(outputs.box!.shape).toEqual([2, 4, 2]);
    const read = outputs.text!.data as string[];
    expect(characterErrorRate(read.join('\n'), truth.join('\n'))).toBeLessThanOrEqual(0.08);
    expect([...(outputs.confidence!.data as Float32Array)].every((c) => c > 0.8)).toBe(true);
  });

  it('gives the error code of a page that is no image', async () => {
    const call = engine.predict({
      model: 'ocr',
      inputs: { image: createTensor('bytes', [1], [new TextEncoder().encode('not a png')]) },
    });
    await expect(call).rejects.toMatchObject({ code: 'ERR_IMAGE_INVALID' });
  });
});
