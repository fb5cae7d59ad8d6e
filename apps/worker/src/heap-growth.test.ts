import { describe, expect, it } from 'vitest';
import { WORKER_HEAP_GROWING_PERCENT, heapGrowthFlag } from './heap-growth.js';

describe('heapGrowthFlag', () => {
  it('gives the worker its heap growth when node was started without one', () => {
    expect(heapGrowthFlag([])).toBe(`--heap-growing-percent=${WORKER_HEAP_GROWING_PERCENT}`);
    expect(heapGrowthFlag(['--enable-source-maps', '--max-old-space-size=512'])).toBe(
      '--heap-growing-percent=200',
    );
  });

  it("leaves an operator's own --heap-growing-percent alone, in either spelling", () => {
    expect(heapGrowthFlag(['--heap-growing-percent=50'])).toBeUndefined();
    expect(heapGrowthFlag(['--heap_growing_percent=300'])).toBeUndefined();
  });

  it('is not fooled by a flag that only starts the same way', () => {
    expect(heapGrowthFlag(['--heap-growing-percentage=50'])).toBe('--heap-growing-percent=200');
  });
});
