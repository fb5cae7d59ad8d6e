import { ConveyorError } from '@conveyor/shared';

/**
 * The one place that decides whether the producer may POST to a callback URL. It is checked when
 * a job is submitted and again before every delivery. For now it allows any http(s) URL; the
 * rules against server-side request forgery (private, loopback and link-local addresses, names
 * that resolve to them) belong here. Async so that a DNS lookup can be added without touching
 * its callers. Throws ERR_CALLBACK_NOT_ALLOWED.
 */
export function assertCallbackAllowed(url: string): Promise<void> {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    protocol = '';
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    return Promise.reject(
      new ConveyorError('ERR_CALLBACK_NOT_ALLOWED', 'callback_url must be an http or https URL'),
    );
  }
  return Promise.resolve();
}
