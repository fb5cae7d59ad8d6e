import { describe, expect, it } from 'vitest';
import { ModelConfigSchema } from './model-config.js';
import { PipelineSchema } from './processing-pipeline.js';

const OCR = {
  kind: 'ocr',
  detector: { file: 'det.onnx' },
  classifier: { model: 'text-direction' },
  recognizer: { file: 'rec.onnx' },
  dictionary: 'ppocr_keys_v1.txt',
};

describe('pipeline schemas', () => {
  it('fills the OCR pipeline with PP-OCRv4 defaults', () => {
    const parsed = PipelineSchema.parse(OCR);
    if (parsed.kind !== 'ocr') throw new Error('not ocr');
    expect(parsed).toMatchObject({ input: 'image', blank: 0, space: true, maxSide: 960 });
    expect(parsed.boxes).toEqual({
      threshold: 0.3,
      boxThreshold: 0.6,
      unclipRatio: 1.5,
      maxCandidates: 1000,
      minSize: 3,
    });
  });

  it('refuses model references that are neither a model nor an .onnx file of the folder', () => {
    for (const detector of [
      { file: '../det.onnx' },
      { file: 'det.bin' },
      { model: 'Bad Name' },
      {},
    ])
      expect(PipelineSchema.safeParse({ ...OCR, detector }).success).toBe(false);
  });

  it('is part of model.json', () => {
    expect(ModelConfigSchema.parse({ pipeline: OCR }).pipeline?.kind).toBe('ocr');
    expect(ModelConfigSchema.safeParse({ pipeline: { kind: 'asr' } }).success).toBe(false);
  });

  describe('ensembles', () => {
    const ENSEMBLE = {
      kind: 'ensemble',
      inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 4] }],
      steps: [
        { name: 'a', model: { model: 'iris' }, inputs: { features: 'input.features' } },
        { name: 'b', model: { file: 'iris.onnx' }, inputs: { features: 'input.features' } },
        { name: 'avg', combine: 'mean', from: ['a.probabilities', 'b.probabilities'] },
      ],
      outputs: [{ name: 'probabilities', dtype: 'float32', shape: [-1, 3], from: 'avg.output' }],
    };
    const issues = (value: unknown) =>
      PipelineSchema.safeParse(value).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);

    it('takes a graph whose steps read the inputs and earlier steps', () => {
      expect(PipelineSchema.parse(ENSEMBLE)).toMatchObject({ kind: 'ensemble' });
    });

    it('refuses a step that reads a later step, an unknown input or itself', () => {
      const later = {
        ...ENSEMBLE,
        steps: [ENSEMBLE.steps[2], ENSEMBLE.steps[0], ENSEMBLE.steps[1]],
      };
      expect(issues(later)).toEqual([
        'steps.0.from.0: "a" is no earlier step (a step reads the inputs and the steps before it)',
        'steps.0.from.1: "b" is no earlier step (a step reads the inputs and the steps before it)',
      ]);
      const unknown = {
        ...ENSEMBLE,
        steps: [{ name: 'a', model: { model: 'iris' }, inputs: { features: 'input.x' } }],
        outputs: [{ ...ENSEMBLE.outputs[0], from: 'a.probabilities' }],
      };
      expect(issues(unknown)).toEqual(['steps.0.inputs.features: the pipeline has no input "x"']);
    });

    it('refuses two steps of one name, a wrong count of weights and an output of no step', () => {
      const twice = { ...ENSEMBLE, steps: [ENSEMBLE.steps[0], ENSEMBLE.steps[0]] };
      expect(issues(twice)).toContain('steps.1.name: a second step of this name');
      const weights = {
        ...ENSEMBLE,
        steps: [...ENSEMBLE.steps.slice(0, 2), { ...ENSEMBLE.steps[2], weights: [1] }],
      };
      expect(issues(weights)).toEqual(['steps.2.weights: one weight per source']);
      const orphan = { ...ENSEMBLE, outputs: [{ ...ENSEMBLE.outputs[0], from: 'nope.output' }] };
      expect(issues(orphan)?.[0]).toMatch(/^outputs\.0\.from: "nope" is no earlier step/);
    });

    it('refuses a step named "input" and a source that names no tensor', () => {
      const named = {
        ...ENSEMBLE,
        steps: [{ ...ENSEMBLE.steps[0], name: 'input' }, ...ENSEMBLE.steps.slice(1)],
      };
      expect(issues(named)?.some((i) => i.startsWith('steps.0.name:'))).toBe(true);
      const bare = { ...ENSEMBLE, outputs: [{ ...ENSEMBLE.outputs[0], from: 'avg' }] };
      expect(issues(bare)?.[0]).toMatch(/^outputs\.0\.from: a source/);
    });
  });
});
