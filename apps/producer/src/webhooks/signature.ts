import { Webhook } from 'standardwebhooks';

/** The Standard Webhooks headers of a delivery (https://www.standardwebhooks.com/). */
export const WEBHOOK_ID_HEADER = 'webhook-id';
export const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature';

/**
 * Signs deliveries per Standard Webhooks with the `standardwebhooks` library: an HMAC-SHA256 of
 * `"<webhook-id>.<webhook-timestamp>.<body>"`, once per configured secret. The signatures are
 * joined by spaces in one `webhook-signature` header (`v1,<base64> v1,<base64>`), which the
 * library's `verify` accepts when any of them matches: a receiver that knows only the old or only
 * the new secret verifies every delivery while keys rotate.
 */
export function createSigner(secrets: readonly string[]) {
  const keys = secrets.map((secret) => new Webhook(secret));
  if (keys.length === 0) throw new Error('webhook signing needs at least one secret');
  /** The three headers of a body sent as delivery `id` at `timestamp`. */
  return (id: string, timestamp: Date, body: string): Record<string, string> => ({
    [WEBHOOK_ID_HEADER]: id,
    [WEBHOOK_TIMESTAMP_HEADER]: String(Math.floor(timestamp.getTime() / 1000)),
    [WEBHOOK_SIGNATURE_HEADER]: keys.map((key) => key.sign(id, timestamp, body)).join(' '),
  });
}
