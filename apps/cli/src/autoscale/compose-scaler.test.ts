import { describe, expect, it } from 'vitest';
import { runningContainers } from './compose-scaler.js';

const container = (State: string, Service = 'worker') => ({ Name: 'x', Service, State });

describe('runningContainers', () => {
  it('counts the running containers of the service in one object per line (compose 2.21+)', () => {
    const out = [container('running'), container('exited'), container('running', 'producer')]
      .map((c) => JSON.stringify(c))
      .join('\n');
    expect(runningContainers(`${out}\n`, 'worker')).toBe(1);
  });

  it('counts them in one JSON array (compose before 2.21)', () => {
    const out = JSON.stringify([container('running'), container('running'), container('created')]);
    expect(runningContainers(out, 'worker')).toBe(2);
  });

  it('reads no output as no container', () => {
    expect(runningContainers('\n', 'worker')).toBe(0);
  });

  it('refuses output that is not the JSON of containers with ERR_SCALER_FAILED', () => {
    expect(() => runningContainers('NAME IMAGE STATUS', 'worker')).toThrow(
      expect.objectContaining({ code: 'ERR_SCALER_FAILED' }),
    );
    expect(() => runningContainers('[{"Name": "x"}]', 'worker')).toThrow(
      expect.objectContaining({ code: 'ERR_SCALER_FAILED' }),
    );
  });
});
