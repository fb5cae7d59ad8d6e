import { describe, expect, it } from 'vitest';
import { ModelNameSchema, toModelName } from './names.js';

describe('toModelName', () => {
  it('makes a valid model name of a file base name', () => {
    expect(toModelName('ResNet50 v2.1')).toBe('resnet50-v2-1');
    expect(toModelName('__whisper_tiny.en__')).toBe('whisper_tiny-en');
    expect(toModelName('iris')).toBe('iris');
  });

  it('falls back to "model" when nothing usable is left, and stays within 64 characters', () => {
    expect(toModelName('…')).toBe('model');
    expect(toModelName('')).toBe('model');
    const long = toModelName(`${'a'.repeat(63)}-b`);
    expect(long).toBe('a'.repeat(63));
    for (const name of ['ResNet50 v2.1', '…', `${'x'.repeat(100)}`])
      expect(ModelNameSchema.safeParse(toModelName(name)).success).toBe(true);
  });
});
