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
});
