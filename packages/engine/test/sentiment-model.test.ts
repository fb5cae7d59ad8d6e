import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  SessionConfigSchema,
  TextStepSchema,
  createTensor,
  toRows,
  type TextStepInput,
} from '@conveyor/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '@conveyor/engine';
import { tempRoot } from './support/onnx-models.js';
import { openSession, type ModelSession } from '../src/session.js';
import { createStepContext } from '../src/processing/step-context.js';
import { TEXT_STEP, type TextInputStep } from '../src/processing/text.js';

const VERSION_DIR = new URL('../../../models/sentiment/1', import.meta.url).pathname;

/**
 * The generated sentiment model through the text step and onnxruntime. Its logits are
 * [4 * negative share, 4 * positive share] of the unmasked tokens, [CLS] and [SEP] included
 * (scripts/lib/sentiment-model.ts), so every expected value below is worked out by hand.
 */
describe('the generated sentiment model with the text step', () => {
  let session: ModelSession;
  beforeAll(async () => {
    session = await openSession(`${VERSION_DIR}/model.onnx`, SessionConfigSchema.parse({}));
  }, 60_000);
  afterAll(() => session.release());

  async function classify(config: TextStepInput, texts: string[]): Promise<number[][]> {
    const step = (await TEXT_STEP.create({
      name: 'text',
      config: TextStepSchema.parse(config),
      model: { inputs: session.inputs, outputs: session.outputs },
      context: createStepContext(VERSION_DIR),
    })) as TextInputStep;
    const fed = await step.run({ text: { dtype: 'string', shape: [texts.length], data: texts } });
    const { outputs } = await session.run(fed, ['logits']);
    return toRows(step.join(fed, outputs).logits!);
  }

  const closeTo = (actual: number[][], expected: number[][]): void => {
    expect(actual).toHaveLength(expected.length);
    expected.forEach((row, r) => row.forEach((v, c) => expect(actual[r]![c]).toBeCloseTo(v, 5)));
  };

  it('scores a positive and a negative sentence, the padding of the shorter one masked', async () => {
    // [CLS] i love this movie [SEP]: 1 positive of 6; [CLS] this movie was boring and bad [SEP]: 2 of 8.
    const logits = await classify({ kind: 'text' }, [
      'I love this movie',
      'This movie was boring and bad',
    ]);
    closeTo(logits, [
      [0, 4 / 6],
      [1, 0],
    ]);
  });

  const positive = 'good the the the '.repeat(30);

  it('truncates a corpus to maxLength without chunking', async () => {
    // 62 text tokens fit: goods at 0, 4, ..., 60: 16 of 64.
    closeTo(await classify({ kind: 'text', maxLength: 64 }, [positive]), [[0, 1]]);
  });

  it('averages the windows of a corpus: 120 tokens in 20 windows of 8 overlapping by 2', async () => {
    // Any 8 consecutive tokens hold 2 goods (0.8); the last window, tokens 114-119, holds 1 (0.5).
    const chunk = { size: 10, overlap: 2, aggregate: 'mean' } as const;
    closeTo(await classify({ kind: 'text', maxLength: 64, chunk }, [positive, 'bad']), [
      [0, (19 * 0.8 + 0.5) / 20],
      [4 / 3, 0],
    ]);
  });

  it('takes the maximum over windows, or returns every window with its text index', async () => {
    // 15 windows of 8: 7 with 2 goods, one with a good and a bad, 7 with 2 bads.
    const corpus = 'good the the the '.repeat(15) + 'bad the the the '.repeat(15);
    const chunk = { size: 10, overlap: 0 };
    closeTo(await classify({ kind: 'text', chunk: { ...chunk, aggregate: 'max' } }, [corpus]), [
      [0.8, 0.8],
    ]);
    closeTo(await classify({ kind: 'text', chunk: { ...chunk, aggregate: 'mean' } }, [corpus]), [
      [0.4, 0.4],
    ]);
    const windows = await classify({ kind: 'text', chunk: { ...chunk, aggregate: 'none' } }, [
      corpus,
    ]);
    expect(windows).toHaveLength(15);
    closeTo(windows.slice(6, 9), [
      [0, 0.8],
      [0.4, 0.4],
      [0.8, 0],
    ]);
  });
});

describe('a text model that answers every window', () => {
  let root: string;
  let engine: Engine;
  beforeAll(async () => {
    root = await tempRoot('windows');
    const dir = join(root, 'windows', '1');
    await mkdir(dir, { recursive: true });
    for (const file of ['model.onnx', 'tokenizer.json'])
      await copyFile(join(VERSION_DIR, file), join(dir, file));
    const config = JSON.parse(await readFile(join(VERSION_DIR, 'model.json'), 'utf8')) as {
      name: string;
      preprocess: { text: Record<string, unknown> };
    };
    config.name = 'windows';
    config.preprocess.text.chunk = { size: 10, overlap: 0, aggregate: 'none' };
    await writeFile(join(dir, 'model.json'), JSON.stringify(config));
    engine = await createEngine({ repository: root });
  }, 60_000);
  afterAll(async () => {
    await engine.close();
    await rm(root, { recursive: true, force: true });
  });

  it('announces the window index and answers it by default, one row per window', async () => {
    const { signature } = engine.resolve('windows');
    expect(signature.outputs.map((o) => o.name)).toEqual([
      'label',
      'score',
      'probabilities',
      'text_index',
      'logits',
    ]);
    expect(signature.outputs[3]).toMatchObject({ dtype: 'int64', shape: [-1] });
    // 15 windows of 8 text tokens for the corpus, one for "bad".
    const corpus = 'good the the the '.repeat(30);
    const texts = createTensor('string', [2], [corpus, 'bad']);
    const { outputs } = await engine.predict({ model: 'windows', inputs: { text: texts } });
    expect(Object.keys(outputs).sort()).toEqual(['label', 'probabilities', 'score', 'text_index']);
    const index = [...(outputs.text_index!.data as BigInt64Array)].map(Number);
    expect(index).toEqual([...Array<number>(15).fill(0), 1]);
    expect(outputs.label!.shape).toEqual([16]);
    // Asked alone by name, without the model being asked for it.
    const only = await engine.predict({
      model: 'windows',
      inputs: { text: texts },
      outputs: ['text_index'],
    });
    expect(Object.keys(only.outputs)).toEqual(['text_index']);
  });
});
