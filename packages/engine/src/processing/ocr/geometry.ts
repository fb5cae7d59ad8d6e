/** A point in pixels: x to the right, y down. */
export interface Point {
  readonly x: number;
  readonly y: number;
}

/** A quadrilateral in reading order: top-left, top-right, bottom-right, bottom-left. */
export type Quad = readonly [Point, Point, Point, Point];

/** A rotated rectangle: centre, unit vector along its width, full width and height. */
export interface RotatedRect {
  readonly center: Point;
  readonly axis: Point;
  readonly width: number;
  readonly height: number;
}

function cross(o: Point, a: Point, b: Point): number {
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

/** The convex hull of the points, counter-clockwise in y-down pixels (Andrew's monotone chain). */
export function convexHull(points: readonly Point[]): Point[] {
  const sorted = [...points].sort((a, b) => a.x - b.x || a.y - b.y);
  if (sorted.length < 3) return sorted;
  const half = (list: Point[]): Point[] => {
    const chain: Point[] = [];
    for (const p of list) {
      while (chain.length >= 2 && cross(chain[chain.length - 2]!, chain[chain.length - 1]!, p) <= 0)
        chain.pop();
      chain.push(p);
    }
    chain.pop();
    return chain;
  };
  return [...half(sorted), ...half(sorted.reverse())];
}

/**
 * The rectangle of least area around the points (rotating calipers over the hull's edges), as
 * OpenCV's minAreaRect finds it. Fewer than two distinct points give a rectangle of size 0.
 */
export function minAreaRect(points: readonly Point[]): RotatedRect {
  const hull = convexHull(points);
  const first = hull[0] ?? { x: 0, y: 0 };
  let best: RotatedRect = { center: first, axis: { x: 1, y: 0 }, width: 0, height: 0 };
  let bestArea = Number.POSITIVE_INFINITY;
  for (let i = 0; i < hull.length; i++) {
    const a = hull[i]!;
    const b = hull[(i + 1) % hull.length]!;
    const length = Math.hypot(b.x - a.x, b.y - a.y);
    if (length === 0) continue;
    const u = { x: (b.x - a.x) / length, y: (b.y - a.y) / length };
    let [minU, maxU, minV, maxV] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const p of hull) {
      const pu = p.x * u.x + p.y * u.y;
      const pv = -p.x * u.y + p.y * u.x;
      [minU, maxU] = [Math.min(minU, pu), Math.max(maxU, pu)];
      [minV, maxV] = [Math.min(minV, pv), Math.max(maxV, pv)];
    }
    const area = (maxU - minU) * (maxV - minV);
    if (area >= bestArea) continue;
    bestArea = area;
    const cu = (minU + maxU) / 2;
    const cv = (minV + maxV) / 2;
    best = {
      center: { x: cu * u.x - cv * u.y, y: cu * u.y + cv * u.x },
      axis: u,
      width: maxU - minU,
      height: maxV - minV,
    };
  }
  return best;
}

/** The rectangle grown by `distance` on every side. */
export function expandRect(rect: RotatedRect, distance: number): RotatedRect {
  return { ...rect, width: rect.width + 2 * distance, height: rect.height + 2 * distance };
}

/**
 * The rectangle's corners in reading order, as PaddleOCR's get_mini_boxes orders them: the two
 * leftmost corners give top-left and bottom-left, the two rightmost top-right and bottom-right.
 */
export function rectCorners(rect: RotatedRect): Quad {
  const { center: c, axis: u } = rect;
  const [hw, hh] = [rect.width / 2, rect.height / 2];
  const corner = (su: number, sv: number): Point => ({
    x: c.x + su * hw * u.x - sv * hh * u.y,
    y: c.y + su * hw * u.y + sv * hh * u.x,
  });
  const byX = [corner(-1, -1), corner(1, -1), corner(1, 1), corner(-1, 1)].sort(
    (a, b) => a.x - b.x,
  );
  const [l1, l2, r1, r2] = byX as [Point, Point, Point, Point];
  const [topLeft, bottomLeft] = l1.y <= l2.y ? [l1, l2] : [l2, l1];
  const [topRight, bottomRight] = r1.y <= r2.y ? [r1, r2] : [r2, r1];
  return [topLeft, topRight, bottomRight, bottomLeft];
}

/** Whether the point lies inside the convex quad or on its edges. */
export function insideQuad(quad: Quad, p: Point): boolean {
  let sign = 0;
  for (let i = 0; i < 4; i++) {
    const side = cross(quad[i]!, quad[(i + 1) % 4]!, p);
    if (Math.abs(side) < 1e-9) continue;
    if (sign === 0) sign = Math.sign(side);
    else if (Math.sign(side) !== sign) return false;
  }
  return true;
}

/** The distance between two points. */
export function distance(a: Point, b: Point): number {
  return Math.hypot(a.x - b.x, a.y - b.y);
}
