import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODELS, jsonLines, runCli, tempDir } from './support.js';

const HEADER = 'sepal_length,sepal_width,petal_length,petal_width';

/** A repository with iris, and iris declared with a first dimension fixed at 1 (`iris-one`). */
function repository(dir: string): string {
  const root = join(dir, 'models');
  cpSync(join(MODELS, 'iris'), join(root, 'iris'), { recursive: true });
  mkdirSync(join(root, 'iris-one', '1'), { recursive: true });
  cpSync(join(MODELS, 'iris', '1', 'model.onnx'), join(root, 'iris-one', '1', 'model.onnx'));
  const config = JSON.parse(readFileSync(join(MODELS, 'iris', '1', 'model.json'), 'utf8')) as {
    inputs: { shape: number[] }[];
    outputs: { shape: number[] }[];
  };
  for (const spec of [...config.inputs, ...config.outputs]) spec.shape[0] = 1;
  writeFileSync(
    join(root, 'iris-one', '1', 'model.json'),
    JSON.stringify({ ...config, name: 'iris-one' }),
  );
  return root;
}

describe('conveyor batch over a CSV of numbers read in blocks', () => {
  it('runs a block the model refuses row by row: every row gets the outputs it gets from iris', async () => {
    const dir = tempDir();
    const env = { MODEL_REPOSITORY: repository(dir) };
    const input = join(dir, 'rows.csv');
    const lines = [HEADER];
    for (let i = 0; i < 1200; i++)
      lines.push(i === 700 ? 'x,1,2,3' : `${(4 + (i % 30) / 10).toFixed(1)},3.1,1.5,0.2`);
    writeFileSync(input, `${lines.join('\n')}\n`);
    const run = async (model: string) => {
      const out = join(dir, `${model}.jsonl`);
      const failed = join(dir, `${model}.failed.jsonl`);
      const result = await runCli(
        ['batch', model, input, '--out', out, '--failed', failed, '--embedded', '--quiet'],
        { env },
      );
      expect(result.code).toBe(3);
      const outputs = new Map(
        jsonLines(readFileSync(out, 'utf8')).map((r) => [r.line as number, r.outputs]),
      );
      return { outputs, failed: jsonLines(readFileSync(failed, 'utf8')) };
    };
    const [free, one] = [await run('iris'), await run('iris-one')];
    expect(one.outputs.size).toBe(1199);
    expect(one.failed.map((f) => [f.line, f.code])).toEqual([[702, 'ERR_VALIDATION']]);
    for (const [line, outputs] of free.outputs) expect(one.outputs.get(line)).toEqual(outputs);
  }, 120_000);
});
