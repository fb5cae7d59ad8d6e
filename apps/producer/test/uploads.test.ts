/**
 * Binary inputs through every road into a job, against a real worker and a model whose `image`
 * input is bytes (`pixels`: an image in, its 2x2 gray pixel values out): OIP JSON (base64) and
 * binary BYTES, multipart uploads over a real HTTP connection, and the SDK given a Buffer.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger, encodeBytes, toNumbers } from '@conveyor/shared';
import { createPixelsRepository, grayPng } from '../../../test/support/pixels-model.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import { HEADER_LENGTH_HEADER } from '../src/oip/binary.js';
import { UPLOAD_FORM_SCHEMA } from '../src/uploads/upload-openapi.js';
import { startProducer, testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });
const MAX_TENSOR_BYTES = 64 * 1024;

interface OipResponse {
  outputs: { name: string; datatype: string; shape: number[]; data: number[] }[];
}

describe('bytes inputs into a model with an image step', () => {
  let repository: Awaited<ReturnType<typeof createPixelsRepository>>;
  let worker: WorkerService;
  let producer: TestProducer;
  let base: string;
  let png: Buffer;
  let other: Buffer;

  beforeAll(async () => {
    repository = await createPixelsRepository();
    const config = testConfig(redisUrl, prefix, {
      MODEL_REPOSITORY: repository.path,
      MAX_TENSOR_BYTES: String(MAX_TENSOR_BYTES),
    });
    worker = await startWorkerService(config, silent);
    producer = await startProducer(config);
    await producer.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(producer.app.server.address() as AddressInfo).port}`;
    png = await grayPng([0, 255, 17, 128]);
    other = await grayPng([1, 2, 3, 4]);
  }, 60_000);

  afterAll(async () => {
    await producer?.close();
    await worker?.close();
    await repository?.remove();
    await dropPrefix(redisUrl, prefix);
  });

  it('announces the image input as bytes', async () => {
    const response = await fetch(`${base}/v2/models/pixels`);
    const body = (await response.json()) as { inputs: { name: string; datatype: string }[] };
    expect(body.inputs).toEqual([expect.objectContaining({ name: 'image', datatype: 'BYTES' })]);
  });

  it('reads OIP JSON BYTES for a bytes input as base64', async () => {
    const response = await fetch(`${base}/v2/models/pixels/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [png.toString('base64')] }],
      }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as OipResponse;
    expect(body.outputs[0]).toMatchObject({ name: 'pixels', shape: [1, 1, 2, 2] });
    expect(body.outputs[0]?.data).toEqual([0, 255, 17, 128]);
  });

  it('reads binary BYTES for a bytes input as raw bytes', async () => {
    const block = encodeBytes([png, other]);
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          {
            name: 'image',
            datatype: 'BYTES',
            shape: [2],
            parameters: { binary_data_size: block.length },
          },
        ],
      }),
    );
    const response = await fetch(`${base}/v2/models/pixels/infer`, {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        [HEADER_LENGTH_HEADER]: String(header.length),
      },
      body: Buffer.concat([header, block]),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as OipResponse;
    expect(body.outputs[0]?.data).toEqual([0, 255, 17, 128, 1, 2, 3, 4]);
  });

  it('takes multipart uploads on /v2 infer: each part of a name one row', async () => {
    const form = new FormData();
    form.append('image', new Blob([png]), 'a.png');
    form.append('image', new Blob([other]), 'b.png');
    form.append('parameters', JSON.stringify({ timeout: 30_000_000 }));
    const response = await fetch(`${base}/v2/models/pixels/infer`, { method: 'POST', body: form });
    expect(response.status).toBe(200);
    const body = (await response.json()) as OipResponse;
    expect(body.outputs[0]).toMatchObject({ shape: [2, 1, 2, 2] });
    expect(body.outputs[0]?.data).toEqual([0, 255, 17, 128, 1, 2, 3, 4]);
  });

  it('takes a multipart upload on /v1 jobs; the job holds the bytes intact', async () => {
    const form = new FormData();
    form.append('image', new Blob([png]), 'page.png');
    const response = await fetch(`${base}/v1/models/pixels/jobs`, { method: 'POST', body: form });
    expect(response.status).toBe(202);
    const { job_id: id } = (await response.json()) as { job_id: string };
    const request = await producer.client.job(id).request();
    expect(request?.inputs.image?.dtype).toBe('bytes');
    expect(Buffer.from((request?.inputs.image?.data as Uint8Array[])[0]!)).toEqual(png);
    const result = await fetch(`${base}/v1/jobs/${id}/result?wait=30`);
    expect(result.status).toBe(200);
  });

  it('runs a Buffer given to the SDK as the bytes input, and stores it intact', async () => {
    const prediction = await producer.client.predict('pixels', { image: png });
    expect(toNumbers(prediction.outputs.pixels!)).toEqual([0, 255, 17, 128]);
    const request = await producer.client.job(prediction.jobId).request();
    expect(Buffer.from((request?.inputs.image?.data as Uint8Array[])[0]!)).toEqual(png);
  });

  it('stores bytes over the blob threshold beside the job, and reads them back intact', async () => {
    const blob = Buffer.from(Array.from({ length: 40_000 }, (_, i) => (i * 7919) % 256));
    const handle = await producer.client.enqueue('pixels', { image: [blob, png] });
    const request = await producer.client.job(handle.id).request();
    const data = request?.inputs.image?.data as Uint8Array[];
    expect(data.map((b) => Buffer.from(b))).toEqual([blob, png]);
    // Not an image: the image step refuses it, and the job says so.
    await expect(handle.result()).rejects.toMatchObject({ code: 'ERR_IMAGE_INVALID' });
  });

  it('documents the upload form of both routes in the OpenAPI document', async () => {
    type Doc = { paths: Record<string, { post: { requestBody: { content: object } } }> };
    const doc = (await (await fetch(`${base}/docs/json`)).json()) as Doc;
    for (const path of ['/v1/models/{name}/jobs', '/v2/models/{name}/infer']) {
      expect(doc.paths[path]?.post.requestBody.content).toMatchObject({
        'application/json': { schema: { type: 'object' } },
        'multipart/form-data': { schema: UPLOAD_FORM_SCHEMA },
      });
    }
  });

  it('refuses a file over MAX_TENSOR_BYTES with 413 ERR_PAYLOAD_TOO_LARGE', async () => {
    const form = new FormData();
    form.append('image', new Blob([Buffer.alloc(MAX_TENSOR_BYTES + 1)]), 'big.png');
    const response = await fetch(`${base}/v2/models/pixels/infer`, { method: 'POST', body: form });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: 'ERR_PAYLOAD_TOO_LARGE' });
  });

  it('refuses more than 64 file parts with 413 ERR_PAYLOAD_TOO_LARGE', async () => {
    const form = new FormData();
    for (let i = 0; i < 65; i++) form.append('image', new Blob([other]), `${i}.png`);
    const response = await fetch(`${base}/v1/models/pixels/jobs`, { method: 'POST', body: form });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: 'ERR_PAYLOAD_TOO_LARGE' });
  });

  it('refuses a field that is not JSON, and bytes that are no image, with their codes', async () => {
    const form = new FormData();
    form.append('image', new Blob([png]), 'a.png');
    form.append('parameters', '{not json');
    const bad = await fetch(`${base}/v1/models/pixels/jobs`, { method: 'POST', body: form });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'ERR_VALIDATION' });
    const junk = new FormData();
    junk.append('image', new Blob([Buffer.from([0x00, 0xff, 0x80])]), 'junk.png');
    const response = await fetch(`${base}/v2/models/pixels/infer`, { method: 'POST', body: junk });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'ERR_IMAGE_INVALID' });
  });
});
