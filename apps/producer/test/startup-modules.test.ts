import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../../scripts/lib/redis-server.js';
import { loadedBy, named } from '../../../test/support/loaded-modules.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';

/**
 * What a producer loads at start: only what its configuration uses. The engine (onnxruntime and
 * sharp's native libraries) waits for a model upload, gRPC for GRPC_PORT, the OpenTelemetry SDK
 * and @fastify/otel for TRACING=otlp. A real producer process, from its sources.
 */
const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const ENGINE = /onnxruntime|sharp|libvips/;
const GRPC = /@grpc\+grpc-js/;
const OTEL_SDK = /@opentelemetry\+sdk-trace|@fastify\+otel|@opentelemetry\+exporter-trace/;
const producer = (env: Record<string, string> = {}) =>
  loadedBy('producer', redisUrl, prefix, {
    PRODUCER_HOST: '127.0.0.1',
    PRODUCER_PORT: '0',
    ...env,
  });

afterAll(() => dropPrefix(redisUrl, prefix));

describe('a producer at start', () => {
  it('loads neither the engine, gRPC nor the OpenTelemetry SDK when nothing asks for them', async () => {
    const { modules, libraries } = await producer();
    expect(modules.length).toBeGreaterThan(100);
    expect(named(libraries, ENGINE)).toEqual([]);
    expect(named(modules, ENGINE)).toEqual([]);
    expect(named(modules, GRPC)).toEqual([]);
    expect(named(modules, OTEL_SDK)).toEqual([]);
  });

  it('loads gRPC with GRPC_PORT, and the OpenTelemetry SDK with TRACING=otlp', async () => {
    const collector = await freePort();
    const { modules } = await producer({
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      TRACING: 'otlp',
      // Loopback only; nothing is traced, so nothing is sent.
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector}`,
    });
    expect(named(modules, GRPC)).not.toEqual([]);
    expect(named(modules, OTEL_SDK)).not.toEqual([]);
  });
});
