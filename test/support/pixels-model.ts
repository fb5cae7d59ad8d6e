/**
 * A model with a bytes input for tests of the roads binary data takes: `pixels` decodes an image
 * (its `image` input, dtype bytes) to 2x2 gray pixels, unscaled, and answers them unchanged as
 * `pixels` [-1, 1, 2, 2]: so its output says whether the image bytes arrived intact.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import { valueInfo } from '../../scripts/lib/onnx-graph.js';

// onnx-proto is CommonJS: its namespace is a property of the default export at run time.
const { onnx } = onnxProto;

/** An Identity from `x` [batch, 1, 2, 2] float32 to `pixels`. */
function identityModel(): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'conveyor/test/support/pixels-model.ts',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'pixels',
      input: [valueInfo('x', ['batch', 1, 2, 2])],
      output: [valueInfo('pixels', ['batch', 1, 2, 2])],
      node: [{ opType: 'Identity', input: ['x'], output: ['pixels'], name: 'identity' }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

const PIXELS_CONFIG = {
  name: 'pixels',
  description: 'Test model: an image in, its 2x2 gray pixel values out.',
  preprocess: {
    image: {
      kind: 'image',
      input: 'x',
      width: 2,
      height: 2,
      color: 'gray',
      scale: 1,
      kernel: 'nearest',
    },
  },
};

/** A temporary model repository holding `pixels/1`. */
export async function createPixelsRepository(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'conveyor-pixels-'));
  const dir = join(path, 'pixels', '1');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), identityModel());
  await writeFile(join(dir, 'model.json'), JSON.stringify(PIXELS_CONFIG));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A 2x2 gray PNG of the four values, row-major. */
export async function grayPng(values: readonly [number, number, number, number]): Promise<Buffer> {
  return sharp(Buffer.from(values), { raw: { width: 2, height: 2, channels: 1 } })
    .png()
    .toBuffer();
}
