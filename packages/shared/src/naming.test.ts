import { describe, expect, it } from 'vitest';
import { modelKey, msFromRedisTime } from './naming.js';

describe('msFromRedisTime', () => {
  it("reads Redis's TIME reply, seconds and microseconds, as epoch milliseconds", () => {
    expect(msFromRedisTime(['1796169261', '810448'])).toBe(1_796_169_261_810);
    expect(msFromRedisTime(['0', '999'])).toBe(0);
  });

  it('refuses anything else', () => {
    for (const reply of [null, [], ['1'], ['a', '1'], ['1', '2', '3'], '1796169261'])
      expect(() => msFromRedisTime(reply)).toThrow(/unexpected reply to TIME/);
  });
});

describe('modelKey', () => {
  it('tags the model so its keys share a cluster slot', () => {
    expect(modelKey('conveyor', 'iris', 'log')).toBe('conveyor:{iris}:log');
    expect(modelKey('p', 'iris', 'shadow', '2', '3')).toBe('p:{iris}:shadow:2:3');
    expect(() => modelKey('p', 'Bad Name', 'log')).toThrow();
  });
});
