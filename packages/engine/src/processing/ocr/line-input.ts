/**
 * @module Text-line crops as the PP-OCR recogniser and direction classifier take them: resized
 * to a fixed height keeping their aspect, scaled to [-1, 1], channels first in BGR order (the
 * models were trained on OpenCV's BGR images), zero-padded on the right to a common width.
 */
import { loadSharp } from '../sharp.js';
import type { RawImage } from './crop.js';

/** A batch of lines as a float32 [N, 3, height, width] tensor's data and dims. */
export interface LineBatch {
  readonly data: Float32Array;
  readonly dims: readonly [number, 3, number, number];
}

/** The line height PP-OCRv3/v4 recognisers and the mobile direction classifier take. */
export const LINE_HEIGHT = 48;

async function resizeRgb(image: RawImage, width: number, height: number): Promise<Uint8Array> {
  const { width: w, height: h, channels } = image;
  if (channels !== 3) throw new RangeError(`a text line has 3 channels, not ${channels}`);
  const sharp = await loadSharp();
  const buffer = await sharp(image.data, { raw: { width: w, height: h, channels } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
}

/** Scaled width of a line at `height`, capped at `maxWidth`. */
function scaledWidth(image: RawImage, height: number, maxWidth: number): number {
  return Math.max(1, Math.min(maxWidth, Math.ceil((height * image.width) / image.height)));
}

async function toBatch(
  lines: readonly RawImage[],
  height: number,
  batchWidth: number,
): Promise<LineBatch> {
  const plane = height * batchWidth;
  const data = new Float32Array(lines.length * 3 * plane);
  await Promise.all(
    lines.map(async (line, n) => {
      const width = scaledWidth(line, height, batchWidth);
      const pixels = await resizeRgb(line, width, height);
      for (let y = 0; y < height; y++)
        for (let x = 0; x < width; x++)
          for (let c = 0; c < 3; c++) {
            const value = pixels[(y * width + x) * 3 + (2 - c)]!;
            data[n * 3 * plane + c * plane + y * batchWidth + x] = value / 127.5 - 1;
          }
    }),
  );
  return { data, dims: [lines.length, 3, height, batchWidth] };
}

/**
 * The recogniser's input for these lines: height 48, as wide as the widest line needs (at least
 * 320, PaddleOCR's rec_image_shape), narrower lines zero-padded.
 */
export function recognizerBatch(lines: readonly RawImage[]): Promise<LineBatch> {
  const widest = Math.max(320 / LINE_HEIGHT, ...lines.map((l) => l.width / l.height));
  return toBatch(lines, LINE_HEIGHT, Math.ceil(LINE_HEIGHT * widest));
}

/** The direction classifier's input: 48x192, longer lines squeezed to fit. */
export function classifierBatch(lines: readonly RawImage[]): Promise<LineBatch> {
  return toBatch(lines, LINE_HEIGHT, 192);
}
