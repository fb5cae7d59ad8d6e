import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODELS, jsonLines, runCli, tempDir } from './support.js';

const FLOWER = '{"features": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}';
const NAMED = '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}';

/** The one-line error format: `conveyor: ERR_CODE: message` and nothing else on stderr. */
function errorLine(stderr: string): string | undefined {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines).toHaveLength(1);
  return /^conveyor: (ERR_[A-Z_]+): \S/.exec(lines[0] ?? '')?.[1];
}

describe('conveyor --help and usage errors', () => {
  it('lists every command with examples and the exit codes', async () => {
    const run = await runCli(['--help']);
    expect(run.code).toBe(0);
    for (const command of ['worker', 'serve', 'dev', 'predict', 'batch', 'models', 'queues'])
      expect(run.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    expect(run.stdout).toContain('Examples:');
    expect(run.stdout).toContain('Exit codes:');
  });

  it('gives each command its own help with examples', async () => {
    const run = await runCli(['batch', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('--out <file>');
    expect(run.stdout).toContain('Examples:');
    expect(run.stdout).not.toContain('--memory-samples');
  });

  it('refuses an unknown command, an unknown flag and a bad flag value with exit 2 and one line', async () => {
    const [command, flag, value] = await Promise.all([
      runCli(['predicted']),
      runCli(['models', 'list', '--frobnicate']),
      runCli(['batch', 'iris', 'x.csv', '--out', 'o.jsonl', '--concurrency', 'many']),
    ]);
    for (const run of [command, flag, value]) {
      expect(run.code).toBe(2);
      expect(errorLine(run.stderr)).toBe('ERR_USAGE');
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('names the flag of a configuration value that is out of range', async () => {
    const run = await runCli(['models', 'list', '--threads', '100']);
    expect(run.code).toBe(2);
    expect(errorLine(run.stderr)).toBe('ERR_USAGE');
    expect(run.stderr).toContain('--threads');
  });

  it('writes errors as one JSON object on stderr with --json', async () => {
    const run = await runCli(['predict', 'iris', '--embedded', '--input', '{nope', '--json']);
    expect(run.code).toBe(2);
    const [body] = jsonLines(run.stderr);
    expect(body).toMatchObject({ error: { code: 'ERR_VALIDATION' } });
    expect(run.stdout).toBe('');
  });
});

describe('conveyor predict --embedded', () => {
  it('prints the prediction as JSON with the output labels', async () => {
    const run = await runCli(['predict', 'iris', '--embedded', '--input', FLOWER]);
    expect(run.code).toBe(0);
    const body = JSON.parse(run.stdout) as {
      model: string;
      version: string;
      outputs: { probabilities: { shape: number[]; data: number[][]; labels: string[] } };
    };
    expect(body).toMatchObject({ model: 'iris', version: '1' });
    expect(body.outputs.probabilities.shape).toEqual([2, 3]);
    expect(body.outputs.probabilities.labels).toEqual(['setosa', 'versicolor', 'virginica']);
    const [setosa, virginica] = body.outputs.probabilities.data;
    expect(setosa?.[0]).toBeGreaterThan(0.9);
    expect(virginica?.[2]).toBeGreaterThan(0.9);
  });

  it("takes a bare array as the data of the model's only input", async () => {
    const [array, scalar] = await Promise.all([
      runCli(['predict', 'iris', '--embedded', '--input', '[[5.1, 3.5, 1.4, 0.2]]']),
      runCli(['predict', 'iris', '--embedded', '--input', '5.1']),
    ]);
    expect(array.code).toBe(0);
    const body = JSON.parse(array.stdout) as {
      outputs: { probabilities: { shape: number[]; data: number[][] } };
    };
    expect(body.outputs.probabilities.shape).toEqual([1, 3]);
    expect(body.outputs.probabilities.data[0]?.[0]).toBeGreaterThan(0.9);
    expect(scalar.code).toBe(2);
    expect(errorLine(scalar.stderr)).toBe('ERR_VALIDATION');
    expect(scalar.stderr).toContain('for a model with one input, an array of its data');
  });

  it('takes named features from stdin and prints a table with the labels and the top class', async () => {
    const run = await runCli(['predict', 'iris', '--embedded', '--input', '-', '-o', 'table'], {
      input: NAMED,
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/setosa\s+versicolor\s+virginica\s+top/);
    expect(run.stdout).toMatch(/^0\s+0\.99\d*.*setosa$/m);
  });

  it('reads @file inputs, and refuses a missing file, malformed JSON and an unknown model with exit 2', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'flower.json'), FLOWER);
    const [file, missing, malformed, unknown, badFeature] = await Promise.all([
      runCli(['predict', 'iris', '--embedded', '--input', `@${join(dir, 'flower.json')}`]),
      runCli(['predict', 'iris', '--embedded', '--input', `@${join(dir, 'nope.json')}`]),
      runCli(['predict', 'iris', '--embedded', '--input', '[1, 2']),
      runCli(['predict', 'orchid', '--embedded', '--input', FLOWER]),
      runCli(['predict', 'iris', '--embedded', '--input', '{"sepal_length": 5.1}']),
    ]);
    expect(file.code).toBe(0);
    expect(JSON.parse(file.stdout)).toMatchObject({ model: 'iris' });
    expect([missing.code, malformed.code, unknown.code, badFeature.code]).toEqual([2, 2, 2, 2]);
    expect(errorLine(missing.stderr)).toBe('ERR_FILE_UNREADABLE');
    expect(errorLine(malformed.stderr)).toBe('ERR_VALIDATION');
    expect(errorLine(unknown.stderr)).toBe('ERR_MODEL_NOT_FOUND');
    expect(errorLine(badFeature.stderr)).toBe('ERR_INPUT_MISSING');
  });
});

describe('conveyor models', () => {
  it('lists the models of the repository with their signatures', async () => {
    const run = await runCli(['models', 'list', '--json']);
    expect(run.code).toBe(0);
    const body = JSON.parse(run.stdout) as {
      models: { name: string; inputs: { name: string; shape: number[] }[] }[];
      problems: unknown[];
    };
    expect(body.models.map((m) => m.name).sort()).toEqual([
      'iris',
      'ocr',
      'sentiment',
      'text-direction',
      'text-direction-image',
    ]);
    expect(body.models.find((m) => m.name === 'iris')?.inputs[0]).toMatchObject({
      name: 'features',
      shape: [-1, 4],
    });
    expect(body.problems).toEqual([]);
  });

  it('inspects one model: inputs and outputs with dtype, shape and labels', async () => {
    const run = await runCli(['models', 'inspect', 'iris']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/input\s+features\s+float32 \[-1, 4\]\s+sepal_length, sepal_width/);
    expect(run.stdout).toMatch(/output\s+probabilities\s+float32 \[-1, 3\]\s+setosa/);
    expect(run.stdout).toContain('model.json matches the model');
  });

  it('validates a good repository with exit 0 and a broken one with exit 1 and each problem', async () => {
    const dir = tempDir();
    cpSync(join(MODELS, 'iris'), join(dir, 'iris'), { recursive: true });
    const mismatched = JSON.parse(readFileSync(join(MODELS, 'iris/1/model.json'), 'utf8')) as {
      inputs: { dtype: string }[];
    };
    mismatched.inputs[0]!.dtype = 'int64';
    mkdirSync(join(dir, 'wrong-dtype/1'), { recursive: true });
    cpSync(join(MODELS, 'iris/1/model.onnx'), join(dir, 'wrong-dtype/1/model.onnx'));
    writeFileSync(
      join(dir, 'wrong-dtype/1/model.json'),
      JSON.stringify({ ...mismatched, name: 'wrong-dtype' }),
    );
    mkdirSync(join(dir, 'no-json/1'), { recursive: true });
    writeFileSync(join(dir, 'no-json/1/model.json'), '{ not json');

    const good = await runCli(['models', 'validate', join(MODELS)]);
    expect(good.code).toBe(0);
    expect(good.stdout).toContain('ok: iris@1');

    const broken = await runCli(['models', 'validate', dir, '--json']);
    expect(broken.code).toBe(1);
    const body = JSON.parse(broken.stdout) as {
      valid: string[];
      problems: { name: string; code: string }[];
    };
    expect(body.valid).toEqual(['iris@1']);
    expect(body.problems.map((p) => [p.name, p.code]).sort()).toEqual([
      ['no-json', 'ERR_MODEL_CONFIG_INVALID'],
      ['wrong-dtype', 'ERR_MODEL_UNAVAILABLE'],
    ]);

    const text = await runCli(['models', 'validate', dir]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^ERR_MODEL_UNAVAILABLE: wrong-dtype@1: .*int64/m);
  });

  it('refuses a repository that does not exist with exit 2', async () => {
    const run = await runCli(['models', 'validate', join(tempDir(), 'nothing-here')]);
    expect(run.code).toBe(2);
    expect(errorLine(run.stderr)).toBe('ERR_CONFIG_INVALID');
  });
});
