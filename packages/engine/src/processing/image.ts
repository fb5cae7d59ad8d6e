/**
 * @file The `image` input step: encoded images (one per row) decoded with sharp into one float32
 * tensor row each, resized, colour-ordered and normalised as model.json says.
 */
import type { Metadata } from 'sharp';
import { loadSharp } from './sharp.js';
import {
  ConveyorError,
  checkedByteLength,
  createTensor,
  type ImageStep,
  type Tensor,
} from '@conveyor/shared';
import { layoutImages, type ImageLayout, type ImagePlacement } from './image-layout.js';
import { modelInput } from './model-input.js';
import type { ImageFrame, InputStepKind, Tensors } from './step.js';

interface Size {
  width: number;
  height: number;
}

/**
 * The size of an encoded image after EXIF orientation, from its header alone; refuses an image
 * over `maxPixels` (ERR_IMAGE_TOO_LARGE) or one sharp cannot read (ERR_IMAGE_INVALID) before
 * anything is decoded.
 */
export async function imageSize(bytes: Uint8Array, maxPixels: number, row: number): Promise<Size> {
  const sharp = await loadSharp();
  let meta: Metadata;
  try {
    // The header only: the pixel limit is checked below, with our code, not sharp's message.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new ConveyorError('ERR_IMAGE_INVALID', `image ${row} cannot be decoded`, {
      cause: error,
      details: { row, bytes: bytes.byteLength },
    });
  }
  const { width, height } = meta.autoOrient;
  if (!(width > 0 && height > 0)) {
    throw new ConveyorError('ERR_IMAGE_INVALID', `image ${row} has no size`, { details: { row } });
  }
  if (width * height > maxPixels) {
    throw new ConveyorError(
      'ERR_IMAGE_TOO_LARGE',
      `image ${row} is ${width}x${height}, over the limit of ${maxPixels} pixels`,
      { details: { row, width, height, maxPixels } },
    );
  }
  return { width, height };
}

const channelsOf = (step: ImageStep): number => (step.color === 'gray' ? 1 : 3);

/** Decodes and resizes one image to its placement: 8-bit pixels, interleaved, in RGB or gray. */
async function decodePixels(
  bytes: Uint8Array,
  step: ImageStep,
  placement: ImagePlacement,
  row: number,
): Promise<Buffer> {
  const sharp = await loadSharp();
  try {
    let image = sharp(bytes, { autoOrient: true, limitInputPixels: step.maxPixels })
      .flatten({ background: '#ffffff' })
      .resize(placement.width, placement.height, {
        fit: step.fit === 'cover' ? 'cover' : 'fill',
        kernel: step.kernel,
      });
    image = step.color === 'gray' ? image.toColourspace('b-w') : image.toColourspace('srgb');
    const { data, info } = await image
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== channelsOf(step)) {
      throw new Error(`decoded to ${info.channels} channels, not ${channelsOf(step)}`);
    }
    return data;
  } catch (error) {
    throw new ConveyorError('ERR_IMAGE_INVALID', `image ${row} cannot be decoded`, {
      cause: error,
      details: { row, bytes: bytes.byteLength },
    });
  }
}

/**
 * Writes one image's pixels into row `row` of `out` (already filled with the pad value),
 * normalised per channel, in the step's colour order and layout.
 */
function writeRow(
  out: Float32Array,
  pixels: Buffer,
  step: ImageStep,
  layout: ImageLayout,
  placement: ImagePlacement,
  row: number,
): void {
  const channels = channelsOf(step);
  const { width: W, height: H } = layout;
  const plane = W * H;
  const base = row * plane * channels;
  const mul: number[] = [];
  const add: number[] = [];
  for (let c = 0; c < channels; c += 1) {
    // Tensor channel c comes from decoded channel `source`: BGR reverses the RGB order.
    const source = step.color === 'bgr' ? 2 - c : c;
    const mean = step.mean[step.mean.length === 1 ? 0 : c] ?? 0;
    const std = step.std[step.std.length === 1 ? 0 : c] ?? 1;
    mul[source] = step.scale / std;
    add[source] = -mean / std;
  }
  const nchw = step.layout === 'nchw';
  const { width: w, height: h, left, top } = placement;
  for (let y = 0; y < h; y += 1) {
    for (let x = 0; x < w; x += 1) {
      const from = (y * w + x) * channels;
      const at = (top + y) * W + (left + x);
      for (let s = 0; s < channels; s += 1) {
        const c = step.color === 'bgr' ? 2 - s : s;
        const value = (pixels[from + s] as number) * (mul[s] as number) + (add[s] as number);
        out[nchw ? base + c * plane + at : base + at * channels + c] = value;
      }
    }
  }
}

/**
 * Turns encoded images into one float32 tensor, [N, C, H, W] or [N, H, W, C]. Every header is read
 * (and the pixel limit and the tensor size checked) before any image is decoded.
 */
export async function imagesToTensor(
  images: readonly Uint8Array[],
  step: ImageStep,
  maxTensorBytes: number,
): Promise<Tensor<'float32'>> {
  return (await imagesToRows(images, step, maxTensorBytes)).tensor;
}

/** The frame of each row: its image's size and where it went in the canvas (not for `cover`). */
function framesOf(sizes: readonly Size[], layout: ImageLayout): ImageFrame[] {
  return sizes.map((size, row) => {
    const placement = layout.placements[row] as ImagePlacement;
    return {
      width: size.width,
      height: size.height,
      inputWidth: layout.width,
      inputHeight: layout.height,
      left: placement.left,
      top: placement.top,
      contentWidth: placement.width,
      contentHeight: placement.height,
    };
  });
}

/** `imagesToTensor`, with where each image went (none for `cover`, which crops). */
async function imagesToRows(
  images: readonly Uint8Array[],
  step: ImageStep,
  maxTensorBytes: number,
): Promise<{ tensor: Tensor<'float32'>; frames?: ImageFrame[] }> {
  const sizes: Size[] = [];
  for (const [row, bytes] of images.entries())
    sizes.push(await imageSize(bytes, step.maxPixels, row));
  const layout = layoutImages(step, sizes);
  const channels = channelsOf(step);
  const shape =
    step.layout === 'nchw'
      ? [images.length, channels, layout.height, layout.width]
      : [images.length, layout.height, layout.width, channels];
  const { elements } = checkedByteLength('float32', shape, maxTensorBytes, 'image input');
  const out = new Float32Array(elements).fill(step.padValue);
  for (const [row, bytes] of images.entries()) {
    const placement = layout.placements[row] as ImagePlacement;
    const pixels = await decodePixels(bytes, step, placement, row);
    writeRow(out, pixels, step, layout, placement, row);
  }
  const tensor = createTensor('float32', shape, out, Number.POSITIVE_INFINITY, 'image input');
  return step.fit === 'cover' ? { tensor } : { tensor, frames: framesOf(sizes, layout) };
}

/** The encoded images of an input tensor: one Uint8Array per row. */
function encodedImages(tensor: Tensor | undefined, name: string): Uint8Array[] {
  const data: unknown = tensor?.data;
  if (!tensor || tensor.shape.length !== 1 || !Array.isArray(data)) {
    throw new ConveyorError(
      'ERR_INPUT_SHAPE',
      `input "${name}" takes one encoded image per row, as bytes of shape [-1]`,
      { details: { input: name } },
    );
  }
  return data.map((item: unknown, row) => {
    if (item instanceof Uint8Array) return item;
    throw new ConveyorError('ERR_IMAGE_INVALID', `image ${row} of "${name}" is not bytes`, {
      details: { row },
    });
  });
}

/** The fixed canvas (height, width) of a step, when every image gets the same one. */
function fixedCanvas(step: ImageStep): [number, number] | undefined {
  if (step.fit === 'inside' || step.width === undefined || step.height === undefined) return;
  const round = (n: number) =>
    step.multipleOf ? Math.ceil(n / step.multipleOf) * step.multipleOf : n;
  return [round(step.height), round(step.width)];
}

export const IMAGE_STEP: InputStepKind<ImageStep> = {
  role: 'input',
  create({ name, config, model, context }) {
    const target = modelInput(name, config.input, model, 'float32', 4);
    const channels = channelsOf(config);
    const canvas = fixedCanvas(config);
    const want =
      config.layout === 'nchw'
        ? [-1, channels, canvas?.[0] ?? -1, canvas?.[1] ?? -1]
        : [-1, canvas?.[0] ?? -1, canvas?.[1] ?? -1, channels];
    target.shape.forEach((dim, axis) => {
      const mine = want[axis] ?? -1;
      if (axis > 0 && dim !== -1 && dim !== mine) {
        throw new ConveyorError(
          'ERR_MODEL_CONFIG_INVALID',
          `preprocess "${name}" makes ${config.layout} [${want.join(', ')}] but input "${target.name}" is [${target.shape.join(', ')}]`,
          { details: { step: name, axis } },
        );
      }
    });
    // What each run made, and where its images went: read back by `frames`.
    const made = new WeakMap<Tensors, readonly ImageFrame[]>();
    return Promise.resolve({
      external: [{ name, dtype: 'bytes', shape: [-1] }],
      feeds: [target.name],
      async run(inputs) {
        const images = encodedImages(inputs[name], name);
        const rows = await imagesToRows(images, config, context.maxTensorBytes);
        const fed = { [target.name]: rows.tensor };
        if (rows.frames) made.set(fed, rows.frames);
        return fed;
      },
      frames: (fed) => made.get(fed),
      async sample() {
        const sharp = await loadSharp();
        const png = await sharp({
          create: { width: 32, height: 32, channels: 3, background: '#808080' },
        })
          .png()
          .toBuffer();
        return { [name]: createTensor('bytes', [1], [new Uint8Array(png)]) };
      },
    });
  },
};
