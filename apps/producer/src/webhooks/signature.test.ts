import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from './signature.js';

const SECRET = 'whsec-0123456789abcdef';
const BODY = '{"job_id":"iris.1","status":"completed"}';

describe('webhook signatures', () => {
  it('signs "<t>.<body>" with HMAC-SHA256 of the secret, as documented', () => {
    const expected = createHmac('sha256', SECRET).update(`1700000000.${BODY}`).digest('hex');
    expect(signWebhook(SECRET, BODY, 1_700_000_000)).toBe(`t=1700000000,v1=${expected}`);
  });

  it('verifies its own signature within the tolerance', () => {
    const header = signWebhook(SECRET, BODY, 1_700_000_000);
    expect(verifyWebhook(SECRET, header, BODY, { nowS: 1_700_000_100 })).toBe(true);
  });

  it.each([
    ['another secret', 'whsec-another-secret-000', BODY, 1_700_000_000],
    ['a changed body', SECRET, `${BODY} `, 1_700_000_000],
    ['a timestamp older than the tolerance', SECRET, BODY, 1_700_000_301],
  ])('rejects %s', (_name, secret, body, nowS) => {
    const header = signWebhook(SECRET, BODY, 1_700_000_000);
    expect(verifyWebhook(secret, header, body, { nowS })).toBe(false);
  });

  it('rejects a missing or malformed header', () => {
    expect(verifyWebhook(SECRET, undefined, BODY)).toBe(false);
    expect(verifyWebhook(SECRET, 't=1,v1=abc', BODY)).toBe(false);
  });
});
