/**
 * @module Cutting text lines out of an image: each detected quad is warped to an upright
 * rectangle (a perspective sampling, as PaddleOCR's get_rotate_crop_image does with OpenCV).
 */
import { distance, type Point, type Quad } from './geometry.js';

/** Decoded pixels, row-major, interleaved channels. */
export interface RawImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

/** The 3x3 homography (row-major, last entry 1) taking the four `from` points to `to`. */
export function homography(from: Quad, to: Quad): number[] {
  const rows: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const { x, y } = from[i]!;
    const { x: u, y: v } = to[i]!;
    rows.push([x, y, 1, 0, 0, 0, -u * x, -u * y, u]);
    rows.push([0, 0, 0, x, y, 1, -v * x, -v * y, v]);
  }
  for (let col = 0; col < 8; col++) {
    let pivot = col;
    for (let r = col + 1; r < 8; r++)
      if (Math.abs(rows[r]![col]!) > Math.abs(rows[pivot]![col]!)) pivot = r;
    [rows[col], rows[pivot]] = [rows[pivot]!, rows[col]!];
    const lead = rows[col]!;
    if (Math.abs(lead[col]!) < 1e-12) throw new RangeError('the four points are degenerate');
    for (let r = 0; r < 8; r++) {
      if (r === col) continue;
      const factor = rows[r]![col]! / lead[col]!;
      for (let c = col; c < 9; c++) rows[r]![c]! -= factor * lead[c]!;
    }
  }
  return [...rows.map((row, i) => row[8]! / row[i]!), 1];
}

/** The point a homography takes `p` to. */
export function project(h: readonly number[], p: Point): Point {
  const w = h[6]! * p.x + h[7]! * p.y + h[8]!;
  return {
    x: (h[0]! * p.x + h[1]! * p.y + h[2]!) / w,
    y: (h[3]! * p.x + h[4]! * p.y + h[5]!) / w,
  };
}

function sample(image: RawImage, x: number, y: number, out: Uint8Array, at: number): void {
  const { width, height, channels, data } = image;
  const cx = Math.min(Math.max(x, 0), width - 1);
  const cy = Math.min(Math.max(y, 0), height - 1);
  const [x0, y0] = [Math.floor(cx), Math.floor(cy)];
  const [x1, y1] = [Math.min(x0 + 1, width - 1), Math.min(y0 + 1, height - 1)];
  const [fx, fy] = [cx - x0, cy - y0];
  for (let c = 0; c < channels; c++) {
    const top = data[(y0 * width + x0) * channels + c]! * (1 - fx);
    const topRight = data[(y0 * width + x1) * channels + c]! * fx;
    const bottom = data[(y1 * width + x0) * channels + c]! * (1 - fx);
    const bottomRight = data[(y1 * width + x1) * channels + c]! * fx;
    out[at + c] = Math.round((top + topRight) * (1 - fy) + (bottom + bottomRight) * fy);
  }
}

/** Turns the image a quarter counter-clockwise (numpy's rot90). */
export function rotateQuarter(image: RawImage): RawImage {
  const { width, height, channels, data } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const [nx, ny] = [y, width - 1 - x];
      out.set(
        data.subarray((y * width + x) * channels, (y * width + x + 1) * channels),
        (ny * height + nx) * channels,
      );
    }
  return { data: out, width: height, height: width, channels };
}

/** Turns the image upside down. */
export function rotateHalf(image: RawImage): RawImage {
  const { channels, data } = image;
  const out = new Uint8Array(data.length);
  const pixels = image.width * image.height;
  for (let i = 0; i < pixels; i++)
    out.set(data.subarray(i * channels, (i + 1) * channels), (pixels - 1 - i) * channels);
  return { ...image, data: out };
}

/**
 * The quad's content as an upright rectangle as wide as its longer horizontal edge and as tall
 * as its longer vertical edge; a line at least 1.5 times taller than wide (vertical text) is
 * turned a quarter counter-clockwise, as PaddleOCR does.
 */
export function cropQuad(image: RawImage, quad: Quad): RawImage {
  const width = Math.max(
    1,
    Math.round(Math.max(distance(quad[0], quad[1]), distance(quad[3], quad[2]))),
  );
  const height = Math.max(
    1,
    Math.round(Math.max(distance(quad[0], quad[3]), distance(quad[1], quad[2]))),
  );
  const rect: Quad = [
    { x: 0, y: 0 },
    { x: width, y: 0 },
    { x: width, y: height },
    { x: 0, y: height },
  ];
  const h = homography(rect, quad);
  const out = new Uint8Array(width * height * image.channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const p = project(h, { x, y });
      sample(image, p.x, p.y, out, (y * width + x) * image.channels);
    }
  const crop = { data: out, width, height, channels: image.channels };
  return height / width >= 1.5 ? rotateQuarter(crop) : crop;
}

/**
 * Reading order: top to bottom by the top-left corner, then left to right among boxes whose tops
 * are within `tolerance` pixels (PaddleOCR's sorted_boxes, which uses 10).
 */
export function sortBoxes<T extends { readonly box: Quad }>(
  boxes: readonly T[],
  tolerance = 10,
): T[] {
  const sorted = [...boxes].sort((a, b) => a.box[0].y - b.box[0].y || a.box[0].x - b.box[0].x);
  for (let i = 0; i < sorted.length - 1; i++)
    for (let j = i; j >= 0; j--) {
      const [a, b] = [sorted[j]!, sorted[j + 1]!];
      if (Math.abs(b.box[0].y - a.box[0].y) >= tolerance || b.box[0].x >= a.box[0].x) break;
      [sorted[j], sorted[j + 1]] = [b, a];
    }
  return sorted;
}
