import { describe, expect, it } from 'vitest';
import {
  formatTraceparent,
  jobTraceMetadata,
  parseTraceparent,
  readJobTraceMetadata,
} from './trace-context.js';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('parseTraceparent', () => {
  it('reads the fields of a version 00 traceparent and writes it back the same', () => {
    const parent = parseTraceparent(VALID);
    expect(parent).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: 1,
    });
    expect(formatTraceparent(parent!)).toBe(VALID);
  });

  it('reads a future version, ignoring the fields after the four it knows', () => {
    expect(parseTraceparent(`01${VALID.slice(2)}-what-comes-next`)?.spanId).toBe(
      '00f067aa0ba902b7',
    );
  });

  it.each([
    ['garbage', 'not-a-traceparent'],
    ['upper-case hex', VALID.toUpperCase()],
    ['version ff', `ff${VALID.slice(2)}`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['an all-zero span id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['version 00 with an extra field', `${VALID}-00`],
    ['a short span id', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902-01'],
    ['a very long value', `${VALID}${'-'.repeat(600)}`],
  ])('refuses %s', (_name, text) => {
    expect(parseTraceparent(text)).toBeUndefined();
  });
});

describe('job trace metadata', () => {
  it('round-trips a parent and its tracestate as a bullmq-otel carrier', () => {
    const metadata = jobTraceMetadata(parseTraceparent(VALID)!, 'vendor=1');
    expect(JSON.parse(metadata)).toEqual({ traceparent: VALID, tracestate: 'vendor=1' });
    expect(readJobTraceMetadata(metadata)).toEqual({
      parent: parseTraceparent(VALID),
      tracestate: 'vendor=1',
    });
  });

  it.each([
    ['no metadata', undefined],
    ['text that is not JSON', '{'],
    ['JSON that is not an object', '"x"'],
    ['a carrier without a traceparent', '{"tracestate":"a=1"}'],
    ['a carrier with a bad traceparent', '{"traceparent":"00-zz"}'],
  ])('reads nothing from %s', (_name, metadata) => {
    expect(readJobTraceMetadata(metadata)).toBeUndefined();
  });
});
