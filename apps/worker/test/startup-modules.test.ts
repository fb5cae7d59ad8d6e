import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadedBy, named } from '../../../test/support/loaded-modules.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';

/**
 * What a worker loads: sharp (and libvips) only for a model that takes images, whose warm-up
 * decodes one; no OpenTelemetry SDK with TRACING off (the producer's test shows that
 * @conveyor/telemetry loads it with TRACING=otlp). A real worker process, from its sources.
 */
const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const SHARP = /sharp|libvips/;
const OTEL_SDK = /@opentelemetry\+sdk-trace|@opentelemetry\+exporter-trace/;
const worker = (models: string) =>
  loadedBy('worker', redisUrl, prefix, { MODELS: models, WORKER_HTTP_PORT: '0' });

afterAll(() => dropPrefix(redisUrl, prefix));

describe('a worker at start', () => {
  it('loads neither sharp nor the OpenTelemetry SDK for a tabular model', async () => {
    const { modules, libraries } = await worker('iris');
    expect(named(libraries, /onnxruntime/)).not.toEqual([]);
    expect(named(libraries, SHARP)).toEqual([]);
    expect(named(modules, SHARP)).toEqual([]);
    expect(named(modules, OTEL_SDK)).toEqual([]);
  });

  it('loads sharp for a model that takes encoded images', async () => {
    const { libraries } = await worker('text-direction-image');
    expect(named(libraries, SHARP)).not.toEqual([]);
  });
});
