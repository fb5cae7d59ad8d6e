import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { createEmbeddedClient } from '@conveyor/sdk/embedded';
import { createLogger, loadConfig } from '@conveyor/shared';
import { startWorkerService, type WorkerService } from '../../apps/worker/src/worker-service.js';
import { characterErrorRate } from '../support/cer.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { renderPage, type RenderedPage } from '../support/render-text.js';
import { MODELS } from '../support/workers.js';

/** The shipped ocr pipeline through a worker and the queue, and embedded: a Buffer in, lines out. */
const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const TRUTH = ['Conveyor reads this page', 'through the queue: 2 lines'];
let worker: WorkerService;
let page: RenderedPage;

beforeAll(async () => {
  page = await renderPage({
    width: 1200,
    height: 500,
    font: 'DejaVu Serif',
    lines: [
      { text: TRUTH[0]!, x: 60, y: 150, size: 44 },
      { text: TRUTH[1]!, x: 60, y: 330, size: 40, rotate: 4 },
    ],
  });
  worker = await startWorkerService(
    loadConfig({
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      MODEL_REPOSITORY: MODELS,
      MODELS: 'ocr,text-direction',
      LOG_LEVEL: 'silent',
    }),
    createLogger({ level: 'silent', component: 'worker' }),
  );
}, 60_000);

afterAll(async () => {
  await worker?.close();
  await dropPrefix(redisUrl, prefix);
});

describe.each([
  ['queue', () => createClient({ redisUrl, prefix })],
  ['embedded', () => createEmbeddedClient({ repository: MODELS })],
] as const)('ocr through the %s client', (_kind, open) => {
  let client: ConveyorClient;
  beforeAll(async () => {
    client = await open();
  }, 60_000);
  afterAll(async () => {
    await client?.close();
  });

  it('reads the lines of a PNG given as a Buffer, with confidences and boxes', async () => {
    const { outputs } = await client.predict('ocr', { image: page.png });
    const text = outputs.text?.data as string[];
    expect(text).toHaveLength(2);
    expect(characterErrorRate(text.join('\n'), TRUTH.join('\n'))).toBeLessThanOrEqual(0.08);
    expect(outputs.confidence?.shape).toEqual([2]);
    expect(outputs.box?.shape).toEqual([2, 4, 2]);
    const box = outputs.box!.data as Float32Array;
    // The first line's top-left corner lies at its ink's top-left, within a few pixels.
    expect(Math.abs(box[0]! - page.ink[0]!.left)).toBeLessThan(12);
    expect(Math.abs(box[1]! - page.ink[0]!.top)).toBeLessThan(12);
  });

  it('answers ERR_IMAGE_INVALID for bytes that are no image', async () => {
    await expect(
      client.predict('ocr', { image: Buffer.from('not an image at all') }),
    ).rejects.toMatchObject({ code: 'ERR_IMAGE_INVALID' });
  });
});
