import { cpSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { MODELS, ROOT, runCli, tempDir, type CliRun } from './support.js';

interface Version {
  name: string;
  version: string;
  inputs: unknown[];
  outputs: unknown[];
  batchable: boolean;
  state: string;
}

// onnx-proto is CommonJS: its namespace is a property of the default export at run time.
const { onnx } = onnxProto;

const json = <T>(run: CliRun): T => JSON.parse(run.stdout) as T;

describe('conveyor models init', () => {
  const dir = tempDir();
  const repository = join(dir, 'repo');
  const file = join(dir, 'PP-OCR cls v2.onnx');
  let first: CliRun;

  beforeAll(async () => {
    cpSync(join(MODELS, 'text-direction/1/model.onnx'), file);
    first = await runCli(['models', 'init', file, '--repository', repository]);
  }, 60_000);

  it('copies the file in under a name made of its own, and prints the model.json it wrote', () => {
    expect(first.code).toBe(0);
    const written = readFileSync(join(repository, 'pp-ocr-cls-v2/1/model.json'), 'utf8');
    expect(first.stdout).toContain(written.trim());
    expect(JSON.parse(written)).toMatchObject({
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 3, -1, -1] }],
      outputs: [{ name: 'softmax_0.tmp_0', dtype: 'float32', shape: [-1, 2] }],
      batching: { maxBatchSize: 32 },
      warmup: { dims: { 'p2o.DynamicDimension.0': 1 } },
    });
  });

  it('writes a folder that serves the signature the bare file has', async () => {
    const [bare, folder] = await Promise.all([
      runCli(['models', 'inspect', file, '--json']),
      runCli(['models', 'inspect', 'pp-ocr-cls-v2', '--repository', repository, '--json']),
    ]);
    expect([bare.code, folder.code]).toEqual([0, 0]);
    const [a] = json<{ versions: Version[] }>(bare).versions;
    const [b] = json<{ versions: Version[] }>(folder).versions;
    expect(b).toMatchObject({ name: 'pp-ocr-cls-v2', version: '1', state: 'ready' });
    expect({ inputs: b!.inputs, outputs: b!.outputs, batchable: b!.batchable }).toEqual({
      inputs: a!.inputs,
      outputs: a!.outputs,
      batchable: a!.batchable,
    });
  });

  it('takes the next free version, and never overwrites one', async () => {
    const before = statSync(join(repository, 'pp-ocr-cls-v2/1/model.json')).mtimeMs;
    const [next, again] = [
      await runCli(['models', 'init', file, '--repository', repository, '--json']),
      await runCli(['models', 'init', file, '--repository', repository, '--version', '1']),
    ];
    expect(next.code).toBe(0);
    expect(json<{ version: string }>(next).version).toBe('2');
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^conveyor: ERR_MODEL_VERSION_EXISTS: /);
    expect(statSync(join(repository, 'pp-ocr-cls-v2/1/model.json')).mtimeMs).toBe(before);
  }, 60_000);

  it('refuses a file that is not an ONNX model, or one onnxruntime cannot load, leaving nothing behind', async () => {
    const junk = join(dir, 'notes.onnx');
    writeFileSync(junk, 'not a model');
    const unknownOp = join(dir, 'unknown-op.onnx');
    writeFileSync(
      unknownOp,
      onnx.ModelProto.encode({
        irVersion: 8,
        opsetImport: [{ domain: '', version: 13 }],
        graph: {
          name: 'g',
          node: [{ opType: 'NoSuchOp', input: ['x'], output: ['y'] }],
          input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [] } } } }],
          output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [] } } } }],
        },
      }).finish(),
    );
    const [notOnnx, notLoadable] = [
      await runCli(['models', 'init', junk, '--repository', repository]),
      await runCli(['models', 'init', unknownOp, '--repository', repository]),
    ];
    expect(notOnnx.code).toBe(1);
    expect(notOnnx.stderr).toMatch(/^conveyor: ERR_MODEL_UNAVAILABLE: .*not an ONNX model/);
    expect(notLoadable.code).toBe(1);
    expect(notLoadable.stderr).toMatch(/^conveyor: ERR_MODEL_UNAVAILABLE: .*NoSuchOp/);
    for (const name of ['notes', 'unknown-op'])
      expect(() => statSync(join(repository, name))).toThrow();
  }, 60_000);
});

describe('conveyor models inspect, list and validate on broken and bare models', () => {
  const repository = tempDir();

  beforeAll(() => {
    mkdirSync(join(repository, 'iris/1'), { recursive: true });
    cpSync(join(MODELS, 'iris/1/model.onnx'), join(repository, 'iris/1/model.onnx'));
    mkdirSync(join(repository, 'wrong/1'), { recursive: true });
    cpSync(join(MODELS, 'iris/1/model.onnx'), join(repository, 'wrong/1/model.onnx'));
    writeFileSync(
      join(repository, 'wrong/1/model.json'),
      JSON.stringify({
        inputs: [{ name: 'features', dtype: 'int64' }],
        outputs: [{ name: 'probabilities', shape: [-1, 4], labels: ['a', 'b'] }],
      }),
    );
  });

  it('inspects a version folder and a model folder', async () => {
    const [version, model] = await Promise.all([
      runCli(['models', 'inspect', join(repository, 'iris/1')]),
      runCli(['models', 'inspect', join(repository, 'iris'), '--json']),
    ]);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/input\s+features\s+float32 \[-1, 4\]/);
    expect(version.stdout).toContain('no model.json');
    expect(json<{ versions: Version[] }>(model).versions.map((v) => v.name)).toEqual(['iris']);
  });

  it('lists with exit 1 when a model is broken', async () => {
    const run = await runCli(['models', 'list', '--repository', repository]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^iris\s+1\s+.*ok$/m);
    expect(run.stdout).toMatch(/^wrong\s+1\s+ERR_MODEL_UNAVAILABLE$/m);
  });

  it('validates with every problem of a version, each with its fix', async () => {
    const run = await runCli(['models', 'validate', repository, '--json']);
    expect(run.code).toBe(1);
    const [problem] = json<{ problems: { name: string; issues: { path: string }[] }[] }>(
      run,
    ).problems;
    expect(problem?.name).toBe('wrong');
    expect(problem?.issues.map((i) => i.path)).toEqual([
      'model.json inputs.0.dtype',
      'model.json outputs.0.shape',
      'model.json outputs.0.labels',
    ]);
    const text = await runCli(['models', 'validate', repository]);
    expect(text.stdout).toContain('change dtype to float32 or remove it');
  });
});

describe('conveyor models types', () => {
  it('writes defineModel declarations that compile against the SDK and type its calls', async () => {
    const dir = tempDir();
    const out = join(dir, 'models.ts');
    const run = await runCli(['models', 'types', '--out', out]);
    expect(run.code).toBe(0);
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
    writeFileSync(
      join(dir, 'use.ts'),
      `import type { ConveyorClient } from '@conveyor/sdk';
import { iris, textDirection } from './models.js';
export async function use(client: ConveyorClient): Promise<Float32Array> {
  const { outputs } = await client.predict(iris, { features: [[5.1, 3.5, 1.4, 0.2]] });
  // @ts-expect-error: text-direction has no output "probabilities"
  await client.predict(textDirection, { x: [[[[0]]]] }, { outputs: ['probabilities'] });
  return outputs.probabilities.data;
}
`,
    );
    const program = ts.createProgram([join(dir, 'use.ts')], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2023,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      customConditions: ['@conveyor/source'],
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [join(ROOT, 'node_modules/@types')],
      paths: { '@conveyor/sdk': [join(ROOT, 'packages/sdk/src/index.ts')] },
    });
    // Only the two files of this test are judged; the SDK's own sources have their typecheck.
    const ours = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file?.fileName.startsWith(dir))
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(ours).toEqual([]);
    expect(readFileSync(out, 'utf8')).toContain('export const textDirection = defineModel({');
  }, 120_000);
});
