/**
 * Draws a word in a 5x7 bitmap font as a 48x192 RGB text-line crop, normalised the way PP-OCR's
 * direction classifier expects ((v / 255 - 0.5) / 0.5, channels first). No image files needed.
 */
const GLYPHS: Readonly<Record<string, readonly string[]>> = {
  A: ['01110', '10001', '10001', '11111', '10001', '10001', '10001'],
  C: ['01110', '10001', '10000', '10000', '10000', '10001', '01110'],
  E: ['11111', '10000', '10000', '11110', '10000', '10000', '11111'],
  L: ['10000', '10000', '10000', '10000', '10000', '10000', '11111'],
  N: ['10001', '11001', '10101', '10011', '10001', '10001', '10001'],
  O: ['01110', '10001', '10001', '10001', '10001', '10001', '01110'],
  R: ['11110', '10001', '10001', '11110', '10100', '10010', '10001'],
  S: ['01111', '10000', '10000', '01110', '00001', '00001', '11110'],
  T: ['11111', '00100', '00100', '00100', '00100', '00100', '00100'],
  V: ['10001', '10001', '10001', '10001', '10001', '01010', '00100'],
  Y: ['10001', '10001', '01010', '00100', '00100', '00100', '00100'],
  ' ': ['00000', '00000', '00000', '00000', '00000', '00000', '00000'],
};

export const LINE_HEIGHT = 48;
export const LINE_WIDTH = 192;

/** The word as a [3, 48, 192] float32 crop; `rotate180` turns it upside down. */
export function textLine(word: string, rotate180 = false): Float32Array {
  const scale = 4;
  const glyphWidth = 6 * scale;
  const top = Math.floor((LINE_HEIGHT - 7 * scale) / 2);
  const plane = new Float32Array(LINE_HEIGHT * LINE_WIDTH).fill(1);
  [...word.toUpperCase()].forEach((char, index) => {
    const glyph = GLYPHS[char] ?? GLYPHS[' ']!;
    glyph.forEach((row, gy) =>
      [...row].forEach((bit, gx) => {
        if (bit !== '1') return;
        for (let dy = 0; dy < scale; dy++)
          for (let dx = 0; dx < scale; dx++) {
            const x = 4 + index * glyphWidth + gx * scale + dx;
            const y = top + gy * scale + dy;
            if (x < LINE_WIDTH) plane[y * LINE_WIDTH + x] = -1;
          }
      }),
    );
  });
  if (rotate180) plane.reverse();
  const image = new Float32Array(3 * plane.length);
  for (let c = 0; c < 3; c++) image.set(plane, c * plane.length);
  return image;
}
