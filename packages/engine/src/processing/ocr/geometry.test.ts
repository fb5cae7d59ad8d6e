import { describe, expect, it } from 'vitest';
import {
  convexHull,
  expandRect,
  insideQuad,
  minAreaRect,
  rectCorners,
  type Quad,
} from './geometry.js';

function rotatedGrid(width: number, height: number, degrees: number) {
  const t = (degrees * Math.PI) / 180;
  const points = [];
  for (let u = 0; u <= width; u++)
    for (let v = 0; v <= height; v++)
      points.push({
        x: 50 + u * Math.cos(t) - v * Math.sin(t),
        y: 50 + u * Math.sin(t) + v * Math.cos(t),
      });
  return points;
}

describe('geometry', () => {
  it('keeps only the corners of a filled square in its hull', () => {
    const points = [];
    for (let x = 0; x <= 4; x++) for (let y = 0; y <= 4; y++) points.push({ x, y });
    const hull = convexHull(points);
    expect(hull).toHaveLength(4);
    expect(new Set(hull.map((p) => `${p.x},${p.y}`))).toEqual(
      new Set(['0,0', '4,0', '4,4', '0,4']),
    );
  });

  it('finds the least-area rectangle of a rotated 40x10 grid', () => {
    const rect = minAreaRect(rotatedGrid(40, 10, 30));
    expect(Math.max(rect.width, rect.height)).toBeCloseTo(40, 6);
    expect(Math.min(rect.width, rect.height)).toBeCloseTo(10, 6);
    // The rectangle's axis runs along one of the grid's edges (30 or 120 degrees).
    const along = Math.abs(
      rect.axis.x * Math.cos(Math.PI / 6) + rect.axis.y * Math.sin(Math.PI / 6),
    );
    expect(Math.min(along, 1 - along)).toBeLessThan(1e-9);
  });

  it('gives a single point a rectangle of size 0', () => {
    expect(minAreaRect([{ x: 3, y: 4 }])).toMatchObject({
      center: { x: 3, y: 4 },
      width: 0,
      height: 0,
    });
  });

  it('orders corners top-left, top-right, bottom-right, bottom-left', () => {
    const rect = expandRect(minAreaRect(rotatedGrid(40, 10, 0)), 2);
    expect(rectCorners(rect)).toEqual([
      { x: 48, y: 48 },
      { x: 92, y: 48 },
      { x: 92, y: 62 },
      { x: 48, y: 62 },
    ]);
  });

  it('orders the corners of a slightly tilted line the same way', () => {
    const [tl, tr, br, bl] = rectCorners(minAreaRect(rotatedGrid(40, 10, 10)));
    expect(tl.x).toBeLessThan(tr.x);
    expect(tl.y).toBeLessThan(bl.y);
    expect(tr.y).toBeLessThan(br.y);
    expect(tr.y).toBeGreaterThan(tl.y);
  });

  it('tells points inside a quad, on its edge and outside', () => {
    const quad: Quad = [
      { x: 0, y: 0 },
      { x: 10, y: 0 },
      { x: 10, y: 5 },
      { x: 0, y: 5 },
    ];
    expect(insideQuad(quad, { x: 5, y: 2 })).toBe(true);
    expect(insideQuad(quad, { x: 10, y: 5 })).toBe(true);
    expect(insideQuad(quad, { x: 11, y: 2 })).toBe(false);
  });
});
