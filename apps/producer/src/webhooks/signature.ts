import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header that carries a delivery's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = 'Conveyor-Signature';

/** The header that names a delivery; it stays the same on every retry of that delivery. */
export const DELIVERY_ID_HEADER = 'Conveyor-Delivery-Id';

const hmac = (secret: string, timestamp: number, body: string) =>
  createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');

/**
 * The `Conveyor-Signature` value of a body sent at `timestamp` (unix seconds): an HMAC-SHA256
 * of `"<timestamp>.<body>"` keyed with WEBHOOK_SECRET, so a receiver can check both the sender
 * and the freshness of a delivery.
 */
export function signWebhook(secret: string, body: string, timestamp: number): string {
  return `t=${timestamp},v1=${hmac(secret, timestamp, body)}`;
}

/**
 * What a receiver runs: true when `header` signs exactly `body` with `secret` and its timestamp
 * is within `toleranceS` seconds of `nowS`. Compares in constant time.
 */
export function verifyWebhook(
  secret: string,
  header: string | undefined,
  body: string,
  options: { toleranceS?: number; nowS?: number } = {},
): boolean {
  const match = /^t=([0-9]{1,12}),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  const timestamp = Number(match[1]);
  const now = options.nowS ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceS ?? 300)) return false;
  const expected = Buffer.from(hmac(secret, timestamp, body), 'hex');
  return timingSafeEqual(expected, Buffer.from(match[2] ?? '', 'hex'));
}
