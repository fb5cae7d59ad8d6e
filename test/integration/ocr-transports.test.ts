/**
 * The shipped ocr pipeline through the roads an application's image takes besides the SDK: an
 * HTTP multipart upload and OIP JSON BYTES (base64) to the producer, and `conveyor predict --file`
 * through the queue; each against a real worker, on a page rendered with a real font.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '@conveyor/shared';
import { startWorkerService, type WorkerService } from '../../apps/worker/src/worker-service.js';
import { startProducer, testConfig, type TestProducer } from '../../apps/producer/test/support.js';
import { characterErrorRate } from '../support/cer.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { renderPage, type RenderedPage } from '../support/render-text.js';
import { MODELS } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TRUTH = ['Images arrive by upload', 'or as base64 in JSON'];
/** The same bound as the SDK's ocr test: this recogniser drops some spaces between Latin words. */
const MAX_CER = 0.08;

interface OipOutputs {
  outputs: { name: string; datatype: string; shape: number[]; data: unknown[] }[];
}

const textOf = (body: OipOutputs) =>
  (body.outputs.find((o) => o.name === 'text')?.data ?? []) as string[];

describe('ocr over HTTP and the command line', () => {
  let page: RenderedPage;
  let worker: WorkerService;
  let producer: TestProducer;
  let base: string;
  let dir: string;

  beforeAll(async () => {
    page = await renderPage({
      width: 1000,
      height: 360,
      lines: [
        { text: TRUTH[0]!, x: 50, y: 130, size: 46 },
        { text: TRUTH[1]!, x: 50, y: 270, size: 46 },
      ],
    });
    const config = testConfig(redisUrl, prefix, {
      MODEL_REPOSITORY: MODELS,
      MODELS: 'ocr,text-direction',
    });
    worker = await startWorkerService(
      config,
      createLogger({ level: 'silent', component: 'worker' }),
    );
    producer = await startProducer(config);
    await producer.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(producer.app.server.address() as AddressInfo).port}`;
    dir = await mkdtemp(join(tmpdir(), 'conveyor-ocr-'));
  }, 120_000);

  afterAll(async () => {
    await producer?.close();
    await worker?.close();
    await rm(dir, { recursive: true, force: true });
    await dropPrefix(redisUrl, prefix);
  });

  it('reads a page uploaded as multipart/form-data to /v2 infer', async () => {
    const form = new FormData();
    form.append('image', new Blob([page.png], { type: 'image/png' }), 'page.png');
    const response = await fetch(`${base}/v2/models/ocr/infer`, { method: 'POST', body: form });
    expect(response.status).toBe(200);
    const body = (await response.json()) as OipOutputs;
    expect(body.outputs.map((o) => o.name).sort()).toEqual(['box', 'confidence', 'text']);
    expect(characterErrorRate(textOf(body).join('\n'), TRUTH.join('\n'))).toBeLessThanOrEqual(
      MAX_CER,
    );
  });

  it('reads a page sent as OIP JSON BYTES, base64', async () => {
    const response = await fetch(`${base}/v2/models/ocr/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          { name: 'image', datatype: 'BYTES', shape: [1], data: [page.png.toString('base64')] },
        ],
      }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as OipOutputs;
    expect(characterErrorRate(textOf(body).join('\n'), TRUTH.join('\n'))).toBeLessThanOrEqual(
      MAX_CER,
    );
  });

  it('refuses an upload that is no image with ERR_IMAGE_INVALID', async () => {
    const form = new FormData();
    form.append('image', new Blob([Buffer.from('plain text, not a picture')]), 'page.png');
    const response = await fetch(`${base}/v2/models/ocr/infer`, { method: 'POST', body: form });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { code: string }).code).toBe('ERR_IMAGE_INVALID');
  });

  it('reads a page file with conveyor predict --file, through the queue', async () => {
    const file = join(dir, 'page.png');
    await writeFile(file, page.png);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--conditions=@conveyor/source',
        '--import',
        'tsx',
        'apps/cli/src/main.ts',
        'predict',
        'ocr',
        '--file',
        file,
        '--json',
        '--redis-url',
        redisUrl,
        '--prefix',
        prefix,
      ],
      { cwd: ROOT, env: { PATH: process.env.PATH, LOG_LEVEL: 'warn' }, timeout: 120_000 },
    );
    const answer = JSON.parse(stdout) as { outputs: { text: { data: string[] } } };
    expect(
      characterErrorRate(answer.outputs.text.data.join('\n'), TRUTH.join('\n')),
    ).toBeLessThanOrEqual(MAX_CER);
  });
});
