import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { createLogger } from './logger.js';

/** A destination that keeps what is written. */
function memory(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { stream, text: () => text };
}

describe('createLogger', () => {
  it('writes JSON lines by default to a destination, with credentials redacted', () => {
    const out = memory();
    const log = createLogger({ component: 'worker', destination: out.stream, isTTY: true });
    log.info({ redisUrl: 'redis://:secret@host:6379' }, 'worker ready');
    expect(JSON.parse(out.text())).toMatchObject({
      level: 30,
      component: 'worker',
      redisUrl: '***',
      msg: 'worker ready',
    });
  });

  it('writes readable lines with LOG_FORMAT=pretty, still redacted', () => {
    const out = memory();
    const { LOG_FORMAT } = loadConfig({ LOG_FORMAT: 'pretty' });
    const log = createLogger({ component: 'worker', destination: out.stream, format: LOG_FORMAT });
    log.warn({ redisUrl: 'redis://:secret@host:6379', models: 2 }, 'worker ready');
    const text = stripVTControlCharacters(out.text());
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] .*WARN.*: \[worker\] worker ready\n/);
    expect(text).toContain('models: 2');
    expect(text).not.toContain('secret');
    expect(() => JSON.parse(text) as unknown).toThrow();
  });

  it('writes JSON with LOG_FORMAT=json, and LOG_FORMAT defaults to auto', () => {
    expect(loadConfig({}).LOG_FORMAT).toBe('auto');
    const out = memory();
    const log = createLogger({ component: 'producer', destination: out.stream, format: 'json' });
    log.info('producer ready');
    expect(JSON.parse(out.text())).toMatchObject({ msg: 'producer ready' });
  });
});
