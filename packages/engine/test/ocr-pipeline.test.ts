import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '@conveyor/engine';
import { createTensor } from '@conveyor/shared';
import { characterErrorRate } from '../../../test/support/cer.js';
import { renderPage } from '../../../test/support/render-text.js';
import { MODELS, tempRoot } from './support/onnx-models.js';
import { OCR_ASSETS } from './support/ocr-run.js';

const OCR_CONFIG = {
  description: 'PP-OCRv4: an image in, its lines of text out.',
  pipeline: {
    kind: 'ocr',
    detector: { file: 'det.onnx' },
    classifier: { model: 'text-direction' },
    recognizer: { file: 'rec.onnx' },
    dictionary: 'ppocr_keys_v1.txt',
  },
};

/** A repository with text-direction, `ocr` (its detector and recogniser as files) and a broken pipeline. */
async function ocrRepository(root: string): Promise<void> {
  await mkdir(join(root, 'text-direction', '1'), { recursive: true });
  for (const file of ['model.onnx', 'model.json'])
    await copyFile(
      join(MODELS, 'text-direction', '1', file),
      join(root, 'text-direction', '1', file),
    );
  const ocr = join(root, 'ocr', '1');
  await mkdir(ocr, { recursive: true });
  await copyFile(join(OCR_ASSETS, 'ch_PP-OCRv4_det_infer.onnx'), join(ocr, 'det.onnx'));
  await copyFile(join(OCR_ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'), join(ocr, 'rec.onnx'));
  await copyFile(join(OCR_ASSETS, 'ppocr_keys_v1.txt'), join(ocr, 'ppocr_keys_v1.txt'));
  await writeFile(join(ocr, 'model.json'), JSON.stringify(OCR_CONFIG));
  const broken = join(root, 'ocr-broken', '1');
  await mkdir(broken, { recursive: true });
  await writeFile(join(broken, 'model.json'), JSON.stringify(OCR_CONFIG));
}

describe('the ocr pipeline served by the engine', () => {
  let root: string;
  let engine: Engine;
  beforeAll(async () => {
    root = await tempRoot('ocr-pipeline');
    await ocrRepository(root);
    engine = await createEngine({ repository: root, threads: 1 });
  }, 60_000);
  afterAll(async () => {
    await engine.close();
    await rm(root, { recursive: true, force: true });
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

  it('refuses a pipeline whose files are missing, serving the others', () => {
    const problem = engine.problems.find((p) => p.name === 'ocr-broken');
    expect(problem?.error.code).toBe('ERR_MODEL_UNAVAILABLE');
    expect([...engine.models.keys()].sort()).toEqual(['ocr', 'text-direction']);
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
