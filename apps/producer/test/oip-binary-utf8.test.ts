/**
 * The binary tensor data extension counts `Inference-Header-Content-Length` in UTF-8 bytes, not in
 * UTF-16 code units: a JSON header with non-ASCII text (a request `id` such as `réq-ü`) is longer
 * in bytes than in characters, and a length in characters cuts the header short and shifts every
 * binary block.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '@conveyor/shared';
import { irisReference } from '../../../scripts/lib/iris-weights.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import { binaryResponseBody, splitBinaryBody } from '../src/oip/binary.js';
import type { BinaryInferResponse } from '../src/oip/schemas.js';
import { startProducer, testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });

/** Two bytes in UTF-8 for each accented letter: 7 characters, 9 bytes. */
const ID = 'réq-ü';
const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
];

describe('binary extension header length in UTF-8 bytes', () => {
  it('binaryResponseBody gives the byte length of a non-ASCII JSON header', () => {
    const header = { id: ID, outputs: [{ name: 'ü', parameters: { binary_data_size: 4 } }] };
    const block = Uint8Array.of(1, 2, 3, 4);
    const { body, headerLength } = binaryResponseBody(header, [block]);
    const text = JSON.stringify(header);
    expect(headerLength).toBe(Buffer.byteLength(text, 'utf8'));
    expect(headerLength).toBeGreaterThan(text.length);
    expect(JSON.parse(body.subarray(0, headerLength).toString('utf8'))).toEqual(header);
    expect([...body.subarray(headerLength)]).toEqual([1, 2, 3, 4]);
  });

  it('splitBinaryBody cuts a non-ASCII header at its byte length', () => {
    const json = Buffer.from(JSON.stringify({ id: ID }), 'utf8');
    const { header, binary } = splitBinaryBody(Buffer.concat([json, Buffer.of(9, 8)]), json.length);
    expect(JSON.parse(header)).toEqual({ id: ID });
    expect([...binary]).toEqual([9, 8]);
  });

  describe('through HTTP, Redis and a real worker', () => {
    let worker: WorkerService;
    let producer: TestProducer;

    beforeAll(async () => {
      const config = testConfig(redisUrl, prefix);
      worker = await startWorkerService(config, silent);
      producer = await startProducer(config);
    }, 60_000);

    afterAll(async () => {
      await producer?.close();
      await worker?.close();
      await dropPrefix(redisUrl, prefix);
    });

    it('answers a binary request whose header holds a non-ASCII id with a byte-exact length', async () => {
      const features = Buffer.from(new Float32Array(ROWS.flat()).buffer);
      const json = Buffer.from(
        JSON.stringify({
          id: ID,
          inputs: [
            {
              name: 'features',
              shape: [2, 4],
              datatype: 'FP32',
              parameters: { binary_data_size: features.length },
            },
          ],
          parameters: { binary_data_output: true },
        }),
        'utf8',
      );
      const response = await producer.app.inject({
        method: 'POST',
        url: '/v2/models/iris/infer',
        payload: Buffer.concat([json, features]),
        headers: {
          'content-type': 'application/octet-stream',
          'inference-header-content-length': String(json.length),
        },
      });
      expect(response.statusCode).toBe(200);
      const length = Number(response.headers['inference-header-content-length']);
      const raw = response.rawPayload;
      const text = raw.subarray(0, length).toString('utf8');
      // A length in UTF-16 units would stop two bytes early: the JSON would not parse.
      const header = JSON.parse(text) as BinaryInferResponse;
      expect(header).toMatchObject({ id: ID, model_name: 'iris' });
      expect(length).toBe(Buffer.byteLength(text, 'utf8'));
      expect(length).toBeGreaterThan(text.length);

      const [output] = header.outputs;
      expect(output).toMatchObject({
        name: 'probabilities',
        datatype: 'FP32',
        shape: [2, 3],
        parameters: { binary_data_size: 24 },
      });
      const block = raw.subarray(length);
      expect(block.length).toBe(24);
      const probabilities = new Float32Array(
        block.buffer.slice(block.byteOffset, block.byteOffset + block.length),
      );
      const expected = irisReference(ROWS).flat();
      expect(probabilities).toHaveLength(expected.length);
      probabilities.forEach((p, i) => expect(Math.abs(p - expected[i]!)).toBeLessThan(1e-5));
    });
  });
});
