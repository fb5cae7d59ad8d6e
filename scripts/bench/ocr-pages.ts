/**
 * The page images of scenario 12: the committed scripts/assets/ocr-page.png, and a larger page
 * drawn with DejaVu Sans by test/support/render-text.ts when the fonts are installed (a machine
 * without them runs the committed page alone).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { renderPage } from '../../test/support/render-text.js';
import { ROOT } from '../lib/worker-process.js';

/** One page the scenario sends, as an application sends it: PNG bytes. */
export interface OcrPage {
  readonly name: string;
  readonly png: Buffer;
  readonly width: number;
  readonly height: number;
}

const COMMITTED = join(ROOT, 'scripts', 'assets', 'ocr-page.png');

/** A letter-like page: twelve lines of prose on 1600x1200 pixels. */
const RENDERED_LINES = [
  'Conveyor deploys ONNX models behind Redis queues.',
  'A page image goes in as PNG bytes; its lines come out',
  'with their text, their confidence and their box.',
  'Detection finds the regions, a classifier turns the',
  'upside-down ones, and the recogniser reads each crop.',
  'The same pipeline runs in a worker behind the queue',
  'and in-process through the embedded client.',
  'This benchmark reads the same pages both ways and',
  'reports pages per second for each, side by side.',
  'Invoice 2024-117: 3 crates of apples, 12.50 EUR each.',
  'Delivered to 14 Harbour Road on the 3rd of May.',
  'Thank you for your order.',
];

async function renderedPage(): Promise<OcrPage | undefined> {
  try {
    const page = await renderPage({
      width: 1600,
      height: 1200,
      lines: RENDERED_LINES.map((text, i) => ({ text, x: 80, y: 110 + i * 88, size: 38 })),
    });
    return {
      name: 'a page drawn with DejaVu Sans',
      png: page.png,
      width: page.width,
      height: page.height,
    };
  } catch {
    // No font drew any ink (fontconfig found none): the committed page alone.
    return undefined;
  }
}

/** The committed page, and the rendered one when this machine can draw it. */
export async function ocrPages(): Promise<OcrPage[]> {
  const png = await readFile(COMMITTED);
  const { width = 0, height = 0 } = await sharp(png).metadata();
  const committed: OcrPage = { name: 'scripts/assets/ocr-page.png', png, width, height };
  const rendered = await renderedPage();
  return rendered ? [committed, rendered] : [committed];
}
