import { describe, expect, it } from 'vitest';
import {
  cropQuad,
  homography,
  project,
  rotateHalf,
  rotateQuarter,
  sortBoxes,
  type RawImage,
} from './crop.js';
import type { Quad } from './geometry.js';

/** A gray image whose pixel (x, y) is x + 10 * y. */
function ramp(width: number, height: number): RawImage {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = x + 10 * y;
  return { data, width, height, channels: 1 };
}

const quad = (x0: number, y0: number, x1: number, y1: number): Quad => [
  { x: x0, y: y0 },
  { x: x1, y: y0 },
  { x: x1, y: y1 },
  { x: x0, y: y1 },
];

describe('text-line crops', () => {
  it('solves the homography taking a square to a skewed quad', () => {
    const to: Quad = [
      { x: 1, y: 2 },
      { x: 9, y: 1 },
      { x: 12, y: 8 },
      { x: 0, y: 7 },
    ];
    const h = homography(quad(0, 0, 1, 1), to);
    quad(0, 0, 1, 1).forEach((p, i) => {
      expect(project(h, p).x).toBeCloseTo(to[i]!.x, 9);
      expect(project(h, p).y).toBeCloseTo(to[i]!.y, 9);
    });
  });

  it('cuts an axis-aligned box out pixel for pixel', () => {
    const crop = cropQuad(ramp(10, 8), quad(2, 1, 7, 3));
    expect([crop.width, crop.height]).toEqual([5, 2]);
    expect([...crop.data]).toEqual([12, 13, 14, 15, 16, 22, 23, 24, 25, 26]);
  });

  it('straightens a box given from its bottom-left corner (text turned a quarter)', () => {
    const turned: Quad = [
      { x: 2, y: 6 },
      { x: 2, y: 1 },
      { x: 4, y: 1 },
      { x: 4, y: 6 },
    ];
    const crop = cropQuad(ramp(10, 8), turned);
    expect([crop.width, crop.height]).toEqual([5, 2]);
    expect([...crop.data.subarray(0, 5)]).toEqual([62, 52, 42, 32, 22]);
  });

  it('turns a vertical line a quarter counter-clockwise', () => {
    const crop = cropQuad(ramp(10, 8), quad(1, 0, 3, 6));
    expect([crop.width, crop.height]).toEqual([6, 2]);
    expect([...crop.data.subarray(0, 6)]).toEqual([2, 12, 22, 32, 42, 52]);
  });

  it('turns images a quarter and a half', () => {
    const image: RawImage = {
      data: Uint8Array.from([1, 2, 3, 4, 5, 6]),
      width: 3,
      height: 2,
      channels: 1,
    };
    expect(rotateQuarter(image)).toEqual({
      data: Uint8Array.from([3, 6, 2, 5, 1, 4]),
      width: 2,
      height: 3,
      channels: 1,
    });
    expect([...rotateHalf(image).data]).toEqual([6, 5, 4, 3, 2, 1]);
  });

  it('sorts boxes top to bottom, then left to right within a line', () => {
    const boxes = [
      { id: 'second line', box: quad(0, 60, 50, 80) },
      { id: 'right', box: quad(100, 12, 150, 30) },
      { id: 'left', box: quad(0, 16, 50, 30) },
    ];
    expect(sortBoxes(boxes).map((b) => b.id)).toEqual(['left', 'right', 'second line']);
  });
});
