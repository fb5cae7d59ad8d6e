/** The `Prefer` request header (RFC 7240) as the infer routes read it. */
export interface Preferences {
  /** `respond-async`: answer 202 with the job's address instead of waiting. */
  respondAsync: boolean;
  /** `wait=<seconds>`: wait at most this long for the result, then answer 202. */
  waitS?: number;
}

/** Longest `wait` honoured, in seconds: the SDK's own cap on a wait (one day). */
const MAX_WAIT_S = 86_400;

/**
 * Reads the preferences of a `Prefer` header. As RFC 7240 asks, preferences the producer does not
 * know, and malformed ones, are ignored rather than refused; the first `wait` counts.
 */
export function parsePrefer(header: string | undefined): Preferences {
  const preferences: Preferences = { respondAsync: false };
  if (header === undefined) return preferences;
  // The header most clients send, read without splitting it.
  if (header === 'respond-async') return { respondAsync: true };
  for (const item of header.split(',')) {
    // Parameters after ";" qualify a preference; neither of ours takes any.
    const [token = ''] = item.split(';');
    const [name = '', value] = token.split('=', 2).map((part) => part.trim());
    const key = name.toLowerCase();
    if (key === 'respond-async' && value === undefined) preferences.respondAsync = true;
    if (key === 'wait' && preferences.waitS === undefined && value !== undefined) {
      const seconds = /^"?([0-9]{1,9})"?$/.exec(value)?.[1];
      if (seconds !== undefined) preferences.waitS = Math.min(Number(seconds), MAX_WAIT_S);
    }
  }
  return preferences;
}
