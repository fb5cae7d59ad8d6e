import { describe, expect, it } from 'vitest';
import { BoxesStepSchema, CtcStepSchema } from './processing-ocr.js';

describe('OCR step schemas', () => {
  it('fills PP-OCRv4 defaults for a bare boxes step', () => {
    expect(BoxesStepSchema.parse({ kind: 'boxes' })).toEqual({
      kind: 'boxes',
      threshold: 0.3,
      boxThreshold: 0.6,
      unclipRatio: 1.5,
      maxCandidates: 1000,
      minSize: 3,
    });
  });

  it('rejects a threshold outside (0, 1) and unknown fields', () => {
    expect(BoxesStepSchema.safeParse({ kind: 'boxes', threshold: 1 }).success).toBe(false);
    expect(BoxesStepSchema.safeParse({ kind: 'boxes', thresh: 0.2 }).success).toBe(false);
  });

  it('reads a ctc step with blank 0 and a trailing space by default', () => {
    expect(CtcStepSchema.parse({ kind: 'ctc', dictionary: 'keys.txt' })).toEqual({
      kind: 'ctc',
      dictionary: 'keys.txt',
      blank: 0,
      space: true,
    });
  });

  it('refuses a dictionary path that leaves the model folder', () => {
    for (const dictionary of ['/etc/passwd', '../keys.txt', 'a/../../keys.txt', ''])
      expect(CtcStepSchema.safeParse({ kind: 'ctc', dictionary }).success).toBe(false);
  });
});
