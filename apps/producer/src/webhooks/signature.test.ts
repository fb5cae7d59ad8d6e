import { randomBytes } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { createSigner } from './signature.js';

const secret = () => `whsec_${randomBytes(32).toString('base64')}`;
const BODY = '{"job_id":"iris.1","status":"completed"}';

describe('createSigner', () => {
  it('signs a body that the standardwebhooks library verifies under each secret', () => {
    const [oldKey, newKey] = [secret(), secret()];
    const headers = createSigner([oldKey, newKey])('msg_1', new Date(), BODY);
    expect(headers['webhook-id']).toBe('msg_1');
    expect(headers['webhook-signature']).toMatch(/^v1,\S+ v1,\S+$/);
    for (const key of [oldKey, newKey])
      expect(new Webhook(key).verify(BODY, headers)).toEqual(JSON.parse(BODY));
  });

  it('fails verification for another secret, another body, or an old timestamp', () => {
    const key = secret();
    const sign = createSigner([key]);
    const headers = sign('msg_2', new Date(), BODY);
    expect(() => new Webhook(secret()).verify(BODY, headers)).toThrow(WebhookVerificationError);
    expect(() => new Webhook(key).verify(`${BODY} `, headers)).toThrow(WebhookVerificationError);
    const old = sign('msg_2', new Date(Date.now() - 3_600_000), BODY);
    expect(() => new Webhook(key).verify(BODY, old)).toThrow(WebhookVerificationError);
  });
});
