import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

const whsec = (bytes: number) => `whsec_${randomBytes(bytes).toString('base64')}`;

describe('WEBHOOK_SECRET', () => {
  it('reads a comma or space separated list of whsec_ secrets, in order', () => {
    const [a, b, c] = [whsec(32), whsec(24), whsec(64)];
    expect(loadConfig({ WEBHOOK_SECRET: `${a}, ${b} ${c}` }).WEBHOOK_SECRET).toEqual([a, b, c]);
  });

  it('reads a plain secret of 16+ characters as the whsec_ form of its UTF-8 bytes', () => {
    const plain = 'a-test-webhook-secret-0123456789';
    expect(loadConfig({ WEBHOOK_SECRET: plain }).WEBHOOK_SECRET).toEqual([
      `whsec_${Buffer.from(plain).toString('base64')}`,
    ]);
  });

  it.each([
    ['a short plain secret', 'too-short'],
    ['a whsec_ secret under 24 bytes', whsec(16)],
    ['a whsec_ secret that is not base64', 'whsec_not*base64*at*all*0123456789'],
    ['a repeated secret', 'a-test-webhook-secret-0123456789,a-test-webhook-secret-0123456789'],
  ])('refuses %s', (_, value) => {
    expect(() => loadConfig({ WEBHOOK_SECRET: value })).toThrow(/WEBHOOK_SECRET/);
  });
});
