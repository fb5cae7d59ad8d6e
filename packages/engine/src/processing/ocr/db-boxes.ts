/**
 * @module Text boxes from a DB (differentiable binarisation) detector's probability map, with
 * PaddleOCR's DBPostProcess semantics: binarise, find regions, take each region's rotated
 * rectangle of least area, score it by the mean probability inside, grow it by the unclip
 * distance and scale it back to the original image.
 */
import type { BoxesStep } from '@conveyor/shared';
import {
  distance,
  expandRect,
  insideQuad,
  minAreaRect,
  rectCorners,
  type Point,
  type Quad,
  type RotatedRect,
} from './geometry.js';

/** A single-channel map, row-major. */
export interface ProbabilityMap {
  readonly data: Float32Array;
  readonly width: number;
  readonly height: number;
}

/** Where the map's pixels sit in the original image. */
export interface MapFrame {
  /** The original image's width in pixels, which boxes are scaled back to. */
  readonly width: number;
  /** The original image's height in pixels. */
  readonly height: number;
  /** Map columns covering the image from the left; the rest is padding. Default: all. */
  readonly contentWidth?: number;
  /** Map rows covering the image from the top; the rest is padding. Default: all. */
  readonly contentHeight?: number;
  /** Map columns of padding left of the image. Default 0. */
  readonly contentLeft?: number;
  /** Map rows of padding above the image. Default 0. */
  readonly contentTop?: number;
}

/** A detected text region in original-image pixels, with its mean probability. */
export interface TextBox {
  readonly box: Quad;
  readonly score: number;
}

export type BoxesOptions = Omit<BoxesStep, 'kind' | 'from'>;

/** Boundary pixels of each 8-connected region of the bitmap, the pixels OpenCV's contours follow. */
export function regionOutlines(bitmap: Uint8Array, width: number, height: number): Point[][] {
  const seen = new Uint8Array(bitmap.length);
  const regions: Point[][] = [];
  const stack: number[] = [];
  const on = (x: number, y: number): boolean =>
    x >= 0 && y >= 0 && x < width && y < height && bitmap[y * width + x] === 1;
  for (let start = 0; start < bitmap.length; start++) {
    if (bitmap[start] !== 1 || seen[start] === 1) continue;
    const outline: Point[] = [];
    seen[start] = 1;
    stack.push(start);
    while (stack.length > 0) {
      const index = stack.pop()!;
      const x = index % width;
      const y = (index - x) / width;
      if (!on(x - 1, y) || !on(x + 1, y) || !on(x, y - 1) || !on(x, y + 1)) outline.push({ x, y });
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          if (!on(x + dx, y + dy)) continue;
          const next = (y + dy) * width + x + dx;
          if (seen[next] === 1) continue;
          seen[next] = 1;
          stack.push(next);
        }
    }
    regions.push(outline);
  }
  return regions;
}

/** The mean of the map over the pixels inside the quad (PaddleOCR's "fast" box score). */
export function meanInside(map: ProbabilityMap, quad: Quad): number {
  const xs = quad.map((p) => p.x);
  const ys = quad.map((p) => p.y);
  const clampX = (v: number): number => Math.min(Math.max(v, 0), map.width - 1);
  const clampY = (v: number): number => Math.min(Math.max(v, 0), map.height - 1);
  let [sum, count] = [0, 0];
  for (let y = clampY(Math.floor(Math.min(...ys))); y <= clampY(Math.ceil(Math.max(...ys))); y++)
    for (let x = clampX(Math.floor(Math.min(...xs))); x <= clampX(Math.ceil(Math.max(...xs))); x++)
      if (insideQuad(quad, { x, y })) {
        sum += map.data[y * map.width + x]!;
        count++;
      }
  return count === 0 ? 0 : sum / count;
}

function scaleQuad(quad: Quad, map: ProbabilityMap, frame: MapFrame): Quad {
  const sx = frame.width / (frame.contentWidth ?? map.width);
  const sy = frame.height / (frame.contentHeight ?? map.height);
  const clamp = (v: number, max: number): number => Math.min(Math.max(Math.round(v), 0), max - 1);
  const [left, top] = [frame.contentLeft ?? 0, frame.contentTop ?? 0];
  return quad.map((p) => ({
    x: clamp((p.x - left) * sx, frame.width),
    y: clamp((p.y - top) * sy, frame.height),
  })) as unknown as Quad;
}

function rectArea(rect: RotatedRect): number {
  return rect.width * rect.height;
}

/**
 * The text boxes of a probability map, in original-image pixels, in no particular order.
 * Regions smaller than `minSize` map pixels, or scoring below `boxThreshold`, are dropped.
 */
export function extractBoxes(
  map: ProbabilityMap,
  options: BoxesOptions,
  frame: MapFrame,
): TextBox[] {
  const bitmap = new Uint8Array(map.data.length);
  for (let i = 0; i < bitmap.length; i++) bitmap[i] = map.data[i]! > options.threshold ? 1 : 0;
  const rects = regionOutlines(bitmap, map.width, map.height)
    .map((outline) => minAreaRect(outline))
    .sort((a, b) => rectArea(b) - rectArea(a))
    .slice(0, options.maxCandidates);
  const boxes: TextBox[] = [];
  for (const rect of rects) {
    if (Math.min(rect.width, rect.height) < options.minSize) continue;
    const score = meanInside(map, rectCorners(rect));
    if (score < options.boxThreshold) continue;
    // pyclipper's round offset of a rectangle by d has, as its least-area rectangle, the
    // rectangle grown by d on each side; d = area * ratio / perimeter as in PaddleOCR's unclip.
    const perimeter = 2 * (rect.width + rect.height);
    const grown = expandRect(rect, (rectArea(rect) * options.unclipRatio) / perimeter);
    if (Math.min(grown.width, grown.height) < options.minSize + 2) continue;
    const box = scaleQuad(rectCorners(grown), map, frame);
    // PaddleOCR's filter_tag_det_res: boxes 3 pixels wide or tall or less are noise.
    if (distance(box[0], box[1]) <= 3 || distance(box[0], box[3]) <= 3) continue;
    boxes.push({ box, score });
  }
  return boxes;
}
