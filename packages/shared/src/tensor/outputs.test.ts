import { describe, expect, it } from 'vitest';
import { JobResultSchema } from '../schemas/job.js';
import { decodeOutputs, encodeOutputs, hasStoredOutputs } from './outputs.js';
import { createTensor } from './tensor.js';

const small = createTensor('float32', [1, 3], Float32Array.of(0.1, 0.2, 0.7));
const large = createTensor(
  'float32',
  [2, 600],
  new Float32Array(1200).map((_, i) => i / 7),
);
const words = createTensor('string', [2], ['grün', '赤']);

const result = (outputs: ReturnType<typeof encodeOutputs>['outputs']) =>
  JobResultSchema.parse({
    v: 1,
    model: 'm',
    version: '1',
    outputs,
    timings: { queuedMs: 1, inferenceMs: 1 },
  });

describe('encodeOutputs / decodeOutputs', () => {
  it('keeps outputs under the threshold inline, in base64', () => {
    const encoded = encodeOutputs({ p: small }, 4096);
    expect(encoded.stored).toBeUndefined();
    expect(encoded.bytes).toBe(12);
    expect(hasStoredOutputs(result(encoded.outputs))).toBe(false);
    expect(decodeOutputs('j', result(encoded.outputs).outputs, undefined).p).toEqual(small);
  });

  it('stores large outputs raw, each a slice of one buffer, and reads them back', () => {
    const encoded = encodeOutputs({ p: small, big: large, w: words }, 4096);
    expect(encoded.stored?.byteLength).toBe(12 + 4800 + 4 + 5 + 4 + 3);
    expect(encoded.outputs.big).toEqual({ dtype: 'float32', shape: [2, 600], at: 12, bytes: 4800 });
    const parsed = result(encoded.outputs);
    expect(hasStoredOutputs(parsed)).toBe(true);
    const decoded = decodeOutputs('j', parsed.outputs, encoded.stored);
    expect(decoded).toEqual({ p: small, big: large, w: words });
  });

  it('refuses stored outputs whose bytes are gone or short', () => {
    const encoded = encodeOutputs({ big: large }, 4096);
    const parsed = result(encoded.outputs);
    expect(() => decodeOutputs('j', parsed.outputs, null)).toThrow(
      expect.objectContaining({ code: 'ERR_PAYLOAD_INVALID' }),
    );
    expect(() => decodeOutputs('j', parsed.outputs, encoded.stored?.subarray(0, 100))).toThrow(
      expect.objectContaining({ code: 'ERR_PAYLOAD_INVALID' }),
    );
  });
});
