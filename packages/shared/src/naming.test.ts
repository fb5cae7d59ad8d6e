import { describe, expect, it } from 'vitest';
import { msFromRedisTime } from './naming.js';

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
