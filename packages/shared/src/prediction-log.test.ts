import { describe, expect, it } from 'vitest';
import { decodeLogEntry, encodeLogEntry, msOfEntryId } from './prediction-log.js';
import { createTensor } from './tensor/tensor.js';

const asPairs = (fields: readonly (string | Buffer)[]) =>
  fields.map((f) => (typeof f === 'string' ? Buffer.from(f) : Buffer.from(f)));

describe('prediction log entries', () => {
  it('round-trips inputs, outputs, latency and trace id through the entry fields', () => {
    const features = createTensor('float32', [2, 2], new Float32Array([1.5, -2, 3.25, 4]));
    const names = createTensor('string', [2], ['a', 'été']);
    const probabilities = createTensor(
      'float32',
      [2, 3],
      new Float32Array([0.1, 0.2, 0.7, 1, 0, 0]),
    );
    const { fields, bytes } = encodeLogEntry({
      jobId: 'iris.1.abc',
      version: '1',
      inputs: { features, names },
      outputs: { probabilities },
      queuedMs: 1.23456,
      inferenceMs: 0.5,
      traceId: '0af7651916cd43dd8448eb211c80319c',
      completedAt: 1_700_000_000_123,
    });
    expect(bytes).toBe(asPairs(fields).reduce((n, b) => n + b.byteLength, 0));
    // Tensor data travels as raw bytes, never base64.
    const inb = fields[fields.indexOf('inb') + 1] as Buffer;
    expect(inb.subarray(0, 16)).toEqual(Buffer.from(new Float32Array([1.5, -2, 3.25, 4]).buffer));
    const entry = decodeLogEntry('iris', '1700000000200-3', asPairs(fields));
    expect(entry).toMatchObject({
      entryId: '1700000000200-3',
      jobId: 'iris.1.abc',
      model: 'iris',
      version: '1',
      queuedMs: 1.235,
      inferenceMs: 0.5,
      traceId: '0af7651916cd43dd8448eb211c80319c',
      completedAt: 1_700_000_000_123,
      loggedAt: 1_700_000_000_200,
    });
    expect([...(entry.inputs.features?.data as Float32Array)]).toEqual([1.5, -2, 3.25, 4]);
    expect(entry.inputs.names?.data).toEqual(['a', 'été']);
    expect(entry.outputs.probabilities?.shape).toEqual([2, 3]);
    expect([...(entry.outputs.probabilities?.data as Float32Array)]).toEqual([
      ...probabilities.data,
    ]);
  });

  it('logs no inputs when none were kept, and no trace id when there was none', () => {
    const out = createTensor('int64', [1], new BigInt64Array([2n]));
    const { fields } = encodeLogEntry({
      jobId: 'm.2.x',
      version: '2',
      outputs: { label: out },
      queuedMs: 0,
      inferenceMs: 0,
      completedAt: 5,
    });
    const entry = decodeLogEntry('m', '9-0', asPairs(fields));
    expect(entry.inputs).toEqual({});
    expect(entry.traceId).toBeUndefined();
    expect(entry.outputs.label?.data).toEqual(new BigInt64Array([2n]));
    expect(msOfEntryId('9-0')).toBe(9);
  });

  it('refuses an entry that is not a prediction, or whose tensors run past their bytes', () => {
    expect(() => decodeLogEntry('m', '1-0', asPairs(['foo', 'bar']))).toThrow(
      expect.objectContaining({ code: 'ERR_PAYLOAD_INVALID' }),
    );
    const out = createTensor('float32', [4], new Float32Array(4));
    const { fields } = encodeLogEntry({
      jobId: 'm.1.x',
      version: '1',
      outputs: { y: out },
      queuedMs: 0,
      inferenceMs: 0,
      completedAt: 1,
    });
    const cut = asPairs(fields);
    cut[cut.length - 1] = Buffer.alloc(8);
    expect(() => decodeLogEntry('m', '1-0', cut)).toThrow(
      expect.objectContaining({ code: 'ERR_PAYLOAD_INVALID' }),
    );
  });
});
