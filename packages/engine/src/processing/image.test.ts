import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ImageStepSchema, type ImageStepInput } from '@conveyor/shared';
import { imagesToTensor } from './image.js';

const MB = 1024 * 1024;
const step = (input: Omit<ImageStepInput, 'kind'>) =>
  ImageStepSchema.parse({ kind: 'image', ...input });

/** A PNG of `width` x `height` from interleaved 8-bit pixels of `channels` channels. */
const png = (pixels: number[], width: number, height: number, channels: 1 | 3 = 3) =>
  sharp(Buffer.from(pixels), { raw: { width, height, channels } }).png().toBuffer();

// A 4x3 RGB image; pixel (x, y) is [10x + y, 100 + 10x + y, 200 + x + y].
const W = 4;
const H = 3;
const pixel = (x: number, y: number): [number, number, number] => [
  10 * x + y,
  100 + 10 * x + y,
  200 + x + y,
];
const rgbPixels = Array.from({ length: W * H }, (_, i) => pixel(i % W, Math.floor(i / W))).flat();

/** A chunk of a PNG file: length, type, data, CRC of type and data. */
function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A PNG of a few hundred bytes whose header declares 100000 x 100000 RGB pixels (30 GB decoded):
 * its one IDAT chunk holds the first rows, deflated zeros.
 */
function bombPng(): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(100_000, 0);
  ihdr.writeUInt32BE(100_000, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(3 * 300_001))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('the image step', () => {
  it('normalises an RGB image channel by channel into NCHW', async () => {
    const image = await png(rgbPixels, W, H);
    const config = step({ width: W, height: H, mean: [0.5], std: [0.5] });
    const tensor = await imagesToTensor([image], config, 64 * MB);
    expect(tensor.shape).toEqual([1, 3, H, W]);
    const expected: number[] = [];
    for (let c = 0; c < 3; c += 1)
      for (let y = 0; y < H; y += 1)
        for (let x = 0; x < W; x += 1) expected.push((pixel(x, y)[c]! / 255 - 0.5) / 0.5);
    expect(Array.from(tensor.data)).toEqual(expected.map((v) => Math.fround(v)));
  });

  it('writes BGR in NHWC with a mean and std per channel', async () => {
    const image = await png(rgbPixels, W, H);
    const mean = [1, 2, 3];
    const std = [2, 4, 8];
    const config = step({ width: W, height: H, color: 'bgr', layout: 'nhwc', scale: 1, mean, std });
    const tensor = await imagesToTensor([image, image], config, 64 * MB);
    expect(tensor.shape).toEqual([2, H, W, 3]);
    const row: number[] = [];
    for (let y = 0; y < H; y += 1)
      for (let x = 0; x < W; x += 1) {
        const [r, g, b] = pixel(x, y);
        row.push((b - 1) / 2, (g - 2) / 4, (r - 3) / 8);
      }
    expect(Array.from(tensor.data)).toEqual([...row, ...row].map((v) => Math.fround(v)));
  });

  it('reads a gray image as one channel', async () => {
    const image = await png([0, 51, 102, 255], 2, 2, 1);
    const tensor = await imagesToTensor([image], step({ width: 2, height: 2, color: 'gray' }), MB);
    expect(tensor.shape).toEqual([1, 1, 2, 2]);
    expect(Array.from(tensor.data)).toEqual([0, 0.2, 0.4, 1].map((v) => Math.fround(v)));
  });

  it('contains a wide image centred, padding above and below with padValue', async () => {
    const image = await png(Array.from({ length: 2 }, () => [255, 255, 255]).flat(), 2, 1);
    const config = step({ width: 4, height: 4, fit: 'contain', color: 'gray', padValue: -1 });
    const tensor = await imagesToTensor([image], config, MB);
    // Scaled x2 to 4x2, placed at rows 1 and 2.
    expect(Array.from(tensor.data)).toEqual([
      -1, -1, -1, -1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1,
    ]);
  });

  it('resizes to a height keeping the aspect and pads right, as PaddleOCR does', async () => {
    const image = await png(
      Array.from({ length: 10 * 5 }, () => 255),
      10,
      5,
      1,
    );
    const config = step({ width: 16, height: 4, fit: 'height', color: 'gray', padValue: 0 });
    const tensor = await imagesToTensor([image], config, MB);
    expect(tensor.shape).toEqual([1, 1, 4, 16]);
    // ceil(4 * 10 / 5) = 8 columns of image, 8 of padding.
    const row = [...Array<number>(8).fill(1), ...Array<number>(8).fill(0)];
    expect(Array.from(tensor.data)).toEqual([...row, ...row, ...row, ...row]);
  });

  it('scales down to maxSide and pads each side to a multiple, the batch to its largest', async () => {
    const wide = await png(
      Array.from({ length: 100 * 50 }, () => 0),
      100,
      50,
      1,
    );
    const long = await png(
      Array.from({ length: 70 * 20 }, () => 0),
      70,
      20,
      1,
    );
    const config = step({ fit: 'inside', maxSide: 64, multipleOf: 32, color: 'gray' });
    expect((await imagesToTensor([wide], config, MB)).shape).toEqual([1, 1, 32, 64]);
    // 70x20 -> 64x18, padded to 64x32; with the 64x32 one: still 64x32.
    expect((await imagesToTensor([long, wide], config, MB)).shape).toEqual([2, 1, 32, 64]);
  });

  it('applies the EXIF orientation before anything else', async () => {
    // 4 wide, 2 high: left half black, right half white; orientation 6 turns it 90° clockwise.
    const raw = [0, 0, 255, 255, 0, 0, 255, 255];
    const jpeg = await sharp(Buffer.from(raw), { raw: { width: 4, height: 2, channels: 1 } })
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const tensor = await imagesToTensor([jpeg], step({ fit: 'inside', color: 'gray' }), MB);
    expect(tensor.shape).toEqual([1, 1, 4, 2]);
    const values = Array.from(tensor.data);
    // Rotated clockwise the black left half is on top.
    expect(Math.max(...values.slice(0, 4))).toBeLessThan(0.2);
    expect(Math.min(...values.slice(4))).toBeGreaterThan(0.8);
  });

  it('refuses a decompression bomb from its header, before decoding it', async () => {
    const bomb = bombPng();
    expect(bomb.length).toBeLessThan(2000);
    await expect(imagesToTensor([bomb], step({ width: 4, height: 4 }), MB)).rejects.toMatchObject({
      code: 'ERR_IMAGE_TOO_LARGE',
      details: { width: 100_000, height: 100_000 },
    });
  });

  it('refuses an image over maxPixels and one that is not an image', async () => {
    const image = await png(rgbPixels, W, H);
    const small = step({ width: 4, height: 4, maxPixels: 11 });
    await expect(imagesToTensor([image], small, MB)).rejects.toMatchObject({
      code: 'ERR_IMAGE_TOO_LARGE',
    });
    const notImage = new TextEncoder().encode('not an image at all');
    await expect(
      imagesToTensor([notImage], step({ width: 4, height: 4 }), MB),
    ).rejects.toMatchObject({ code: 'ERR_IMAGE_INVALID', details: { row: 0 } });
  });

  it('refuses a truncated PNG whose header is fine', async () => {
    const big = await png(
      Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7) % 256),
      64,
      64,
    );
    const cut = big.subarray(0, Math.floor(big.length / 2));
    await expect(imagesToTensor([cut], step({ width: 8, height: 8 }), MB)).rejects.toMatchObject({
      code: 'ERR_IMAGE_INVALID',
    });
  });

  it('refuses a batch whose tensor would pass maxTensorBytes before decoding', async () => {
    const image = await png(rgbPixels, W, H);
    const config = step({ width: 1000, height: 1000 });
    await expect(imagesToTensor([image], config, MB)).rejects.toMatchObject({
      code: 'ERR_TENSOR_TOO_LARGE',
    });
  });
});
