import type { ImageStep } from '@conveyor/shared';

/** Where one image goes in its tensor row: the size it is resized to, and its offset. */
export interface ImagePlacement {
  /** Size the image is resized to (for `cover`, the size after its crop). */
  readonly width: number;
  readonly height: number;
  /** Offset of its top-left pixel in the row's canvas. */
  readonly left: number;
  readonly top: number;
}

/** The canvas (a tensor row's height and width) and where each image goes in it. */
export interface ImageLayout {
  readonly width: number;
  readonly height: number;
  readonly placements: readonly ImagePlacement[];
}

type Geometry = Pick<ImageStep, 'fit' | 'width' | 'height' | 'maxSide' | 'multipleOf' | 'position'>;

const atLeastOne = (n: number): number => Math.max(1, Math.round(n));
const roundUp = (n: number, multiple: number | undefined): number =>
  multiple === undefined ? n : Math.ceil(n / multiple) * multiple;

/** The size one image of `w` x `h` is resized to, and the canvas it needs alone. */
function place(step: Geometry, w: number, h: number): ImagePlacement & { cw: number; ch: number } {
  const W = step.width ?? w;
  const H = step.height ?? h;
  switch (step.fit) {
    case 'fill':
    case 'cover':
      return { width: W, height: H, left: 0, top: 0, cw: W, ch: H };
    case 'contain': {
      const s = Math.min(W / w, H / h);
      const width = Math.min(W, atLeastOne(w * s));
      const height = Math.min(H, atLeastOne(h * s));
      const centre = step.position === 'centre';
      const left = centre ? Math.floor((W - width) / 2) : 0;
      const top = centre ? Math.floor((H - height) / 2) : 0;
      return { width, height, left, top, cw: W, ch: H };
    }
    case 'height': {
      // PaddleOCR's resize_norm_img: ceil(H * aspect), capped at the target width.
      const width = Math.min(W, Math.ceil((H * w) / h));
      return { width, height: H, left: 0, top: 0, cw: W, ch: H };
    }
    case 'inside': {
      let s = step.width === undefined ? 1 : Math.min(1, W / w, H / h);
      if (step.maxSide !== undefined) s = Math.min(s, step.maxSide / Math.max(w, h));
      const width = s === 1 ? w : atLeastOne(w * s);
      const height = s === 1 ? h : atLeastOne(h * s);
      return { width, height, left: 0, top: 0, cw: width, ch: height };
    }
  }
}

/**
 * Lays out the images of one request (`sizes` as width x height after EXIF orientation): their
 * resized sizes and one canvas for all, the largest any needs, each side rounded up to
 * `multipleOf`. Pure arithmetic from the headers, so the tensor is sized before any decoding.
 */
export function layoutImages(
  step: Geometry,
  sizes: readonly { width: number; height: number }[],
): ImageLayout {
  const placed = sizes.map((s) => place(step, s.width, s.height));
  const width = roundUp(Math.max(1, ...placed.map((p) => p.cw)), step.multipleOf);
  const height = roundUp(Math.max(1, ...placed.map((p) => p.ch)), step.multipleOf);
  return {
    width,
    height,
    placements: placed.map(({ width: w, height: h, left, top }) => ({
      width: w,
      height: h,
      left,
      top,
    })),
  };
}
