import { describe, expect, it } from 'vitest';
import { BoxesStepSchema, type BoxesStep } from '@conveyor/shared';
import { extractBoxes, meanInside, regionOutlines, type ProbabilityMap } from './db-boxes.js';

const OPTIONS: BoxesStep = BoxesStepSchema.parse({ kind: 'boxes' });

function mapWith(
  width: number,
  height: number,
  blocks: [number, number, number, number, number][],
): ProbabilityMap {
  const data = new Float32Array(width * height);
  for (const [x0, y0, x1, y1, p] of blocks)
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) data[y * width + x] = p;
  return { data, width, height };
}

describe('DB text boxes', () => {
  it('finds one box around a block, grown by the unclip distance', () => {
    const map = mapWith(100, 60, [[10, 20, 49, 29, 0.9]]);
    const [box, ...rest] = extractBoxes(map, OPTIONS, { width: 100, height: 60 });
    expect(rest).toEqual([]);
    expect(box!.score).toBeCloseTo(0.9, 5);
    // Outline centres span 39 x 9: d = 39 * 9 * 1.5 / (2 * 48) = 5.48.
    expect(box!.box).toEqual([
      { x: 5, y: 15 },
      { x: 54, y: 15 },
      { x: 54, y: 34 },
      { x: 5, y: 34 },
    ]);
  });

  it('scales boxes back to the original image, ignoring padding', () => {
    const map = mapWith(100, 60, [[10, 20, 49, 29, 0.9]]);
    const [box] = extractBoxes(map, OPTIONS, {
      width: 400,
      height: 120,
      contentWidth: 50,
      contentHeight: 30,
    });
    expect(box!.box[0]).toEqual({ x: Math.round(4.52 * 8), y: Math.round(14.52 * 4) });
    expect(box!.box[2]).toEqual({ x: 399, y: 119 });
  });

  it('drops regions whose mean probability is under the box threshold', () => {
    const map = mapWith(100, 60, [[10, 20, 49, 29, 0.5]]);
    expect(extractBoxes(map, OPTIONS, { width: 100, height: 60 })).toEqual([]);
    expect(
      extractBoxes(map, { ...OPTIONS, boxThreshold: 0.4 }, { width: 100, height: 60 }),
    ).toHaveLength(1);
  });

  it('drops regions thinner than the minimum size', () => {
    const map = mapWith(100, 60, [[10, 20, 49, 21, 0.9]]);
    expect(extractBoxes(map, OPTIONS, { width: 100, height: 60 })).toEqual([]);
  });

  it('keeps the largest regions when there are more than maxCandidates', () => {
    const map = mapWith(100, 60, [
      [5, 5, 30, 14, 0.9],
      [5, 30, 90, 45, 0.9],
    ]);
    const boxes = extractBoxes(map, { ...OPTIONS, maxCandidates: 1 }, { width: 100, height: 60 });
    expect(boxes).toHaveLength(1);
    expect(boxes[0]!.box[1].x).toBeGreaterThan(90);
  });

  it('joins diagonal neighbours into one region and keeps separate blocks apart', () => {
    const bitmap = Uint8Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect(regionOutlines(bitmap, 4, 4).map((r) => r.length)).toEqual([2, 1]);
  });

  it('averages the map over the pixels inside a quad', () => {
    const map = mapWith(10, 10, [[0, 0, 4, 9, 1]]);
    const quad = [
      { x: 0, y: 0 },
      { x: 9, y: 0 },
      { x: 9, y: 9 },
      { x: 0, y: 9 },
    ] as const;
    expect(meanInside(map, quad)).toBeCloseTo(0.5, 6);
  });
});
