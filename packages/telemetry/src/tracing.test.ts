import { describe, expect, it } from 'vitest';
import { loadConfig } from '@conveyor/shared';
import { startTracing, tracesUrl } from './tracing.js';

describe('startTracing', () => {
  it('starts nothing when TRACING is off', async () => {
    await expect(
      startTracing(loadConfig({}), { service: 'conveyor-worker' }),
    ).resolves.toBeUndefined();
  });
});

describe('tracesUrl', () => {
  it('puts /v1/traces under the base endpoint, default OpenTelemetry’s local one', () => {
    expect(tracesUrl(loadConfig({}))).toBe('http://localhost:4318/v1/traces');
    const base = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' });
    expect(tracesUrl(base)).toBe('http://collector:4318/v1/traces');
  });

  it('takes the traces endpoint as given', () => {
    const config = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://jaeger:4318/custom',
    });
    expect(tracesUrl(config)).toBe('http://jaeger:4318/custom');
  });

  it('refuses a sampler OpenTelemetry does not name, and a ratio over 1', () => {
    expect(() => loadConfig({ OTEL_TRACES_SAMPLER: 'sometimes' })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }),
    );
    expect(() => loadConfig({ OTEL_TRACES_SAMPLER_ARG: '2' })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }),
    );
  });
});
