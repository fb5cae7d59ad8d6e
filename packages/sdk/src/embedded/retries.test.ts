import { describe, expect, it } from 'vitest';
import { retryDelayMs } from './retries.js';

describe("an embedded job's retry delay", () => {
  it('doubles each try from backoffMs, as BullMQ exponential backoff does', () => {
    expect([1, 2, 3, 4].map((made) => retryDelayMs(1000, made))).toEqual([1000, 2000, 4000, 8000]);
    expect(retryDelayMs(0, 5)).toBe(0);
  });

  it('stays within what a timer can wait, where a longer one fired after 1 ms', () => {
    // 1000 ms doubled 22 times is past 2^31 - 1 ms (attempts go up to 100).
    expect(retryDelayMs(1000, 23)).toBe(2_147_483_647);
    expect(retryDelayMs(1000, 100)).toBe(2_147_483_647);
    expect(retryDelayMs(1000, 22)).toBe(1000 * 2 ** 21);
  });
});
