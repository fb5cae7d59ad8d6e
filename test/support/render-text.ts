/**
 * Pages of text drawn with a real font (Debian's DejaVu, through sharp's SVG renderer, which
 * finds it with fontconfig), for OCR tests that need no image files. Each line also comes with
 * the box its ink covers, measured by drawing the line alone.
 */
import sharp from 'sharp';

/** The DejaVu families fonts-dejavu-core installs. */
export type Font = 'DejaVu Sans' | 'DejaVu Serif' | 'DejaVu Sans Mono';

export interface DrawnLine {
  readonly text: string;
  /** Left end of the baseline, in pixels. */
  readonly x: number;
  readonly y: number;
  /** Font size in pixels. */
  readonly size: number;
  /** Degrees clockwise about (x, y). Default 0. */
  readonly rotate?: number;
}

export interface PageSpec {
  readonly width: number;
  readonly height: number;
  readonly lines: readonly DrawnLine[];
  /** Default DejaVu Sans. */
  readonly font?: Font;
}

/** The axis-aligned box of a line's ink: left, top, right, bottom in pixels. */
export interface InkBox {
  readonly left: number;
  readonly top: number;
  readonly right: number;
  readonly bottom: number;
}

export interface RenderedPage {
  readonly png: Buffer;
  /** RGB pixels, row-major. */
  readonly rgb: Uint8Array;
  readonly width: number;
  readonly height: number;
  /** Each line's ink box, in the order of `spec.lines`. */
  readonly ink: readonly InkBox[];
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function svg(spec: PageSpec, lines: readonly DrawnLine[]): Buffer {
  const font = spec.font ?? 'DejaVu Sans';
  const texts = lines.map(
    (l) =>
      `<text x="${l.x}" y="${l.y}" font-size="${l.size}" transform="rotate(${l.rotate ?? 0} ${l.x} ${l.y})">${escapeXml(l.text)}</text>`,
  );
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${spec.width}" height="${spec.height}">` +
      `<rect width="100%" height="100%" fill="white"/>` +
      `<g font-family="${font}" fill="black">${texts.join('')}</g></svg>`,
  );
}

async function rgbOf(image: Buffer): Promise<Uint8Array> {
  const raw = await sharp(image).removeAlpha().raw().toBuffer();
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
}

function inkBox(rgb: Uint8Array, width: number, height: number): InkBox {
  let [left, top, right, bottom] = [width, height, -1, -1];
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      if (rgb[(y * width + x) * 3]! > 128) continue;
      [left, right] = [Math.min(left, x), Math.max(right, x)];
      [top, bottom] = [Math.min(top, y), Math.max(bottom, y)];
    }
  if (right < 0) throw new Error('a drawn line left no ink on the page');
  return { left, top, right, bottom };
}

/** Draws the page as PNG and RGB pixels, and measures each line's ink. */
export async function renderPage(spec: PageSpec): Promise<RenderedPage> {
  const png = await sharp(svg(spec, spec.lines)).png().toBuffer();
  const ink: InkBox[] = [];
  for (const line of spec.lines) {
    const alone = await sharp(svg(spec, [line]))
      .png()
      .toBuffer();
    ink.push(inkBox(await rgbOf(alone), spec.width, spec.height));
  }
  return { png, rgb: await rgbOf(png), width: spec.width, height: spec.height, ink };
}
