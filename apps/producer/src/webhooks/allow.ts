import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { ConveyorError, type Config } from '@conveyor/shared';

/** Which callback URLs the producer may call, from WEBHOOK_ALLOW_PRIVATE and WEBHOOK_ALLOWED_HOSTS. */
export interface CallbackPolicy {
  /** True: every address is allowed, private and loopback included (WEBHOOK_ALLOW_PRIVATE=true). */
  allowPrivate: boolean;
  /** Lower-case host names or addresses exempt from the address check. */
  allowedHosts: readonly string[];
  /** Resolves a host name to all of its addresses; default node:dns `lookup`. For tests. */
  lookup?: (host: string) => Promise<readonly { address: string }[]>;
}

/** The policy of a producer configuration. */
export function callbackPolicyOf(
  config: Pick<Config, 'WEBHOOK_ALLOW_PRIVATE' | 'WEBHOOK_ALLOWED_HOSTS'>,
): CallbackPolicy {
  return { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE, allowedHosts: config.WEBHOOK_ALLOWED_HOSTS };
}

/**
 * Address ranges a callback may not reach: everything that is not a public unicast address.
 * IANA special-purpose registries (RFC 6890 and updates).
 */
const NOT_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network", 0.0.0.0 itself
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 96], // unspecified, loopback, IPv4-compatible (deprecated)
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique-local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, 'ipv6');
}

/** The IPv4 address an IPv6 address carries (IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96). */
function embeddedIPv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const match =
    /^(?:::ffff:|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/.exec(lower);
  if (!match) return undefined;
  if (match[1] !== undefined) return match[1];
  const high = Number.parseInt(match[2] ?? '0', 16);
  const low = Number.parseInt(match[3] ?? '0', 16);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/**
 * True when `address` (IPv4 or IPv6 text) is a public unicast address; false for loopback,
 * private, link-local, unique-local, unspecified, multicast, reserved and documentation ranges,
 * and for IPv6 forms that carry such an IPv4 address. False for anything that is not an address.
 */
export function isPublicAddress(address: string): boolean {
  try {
    return isPublicUnchecked(address);
  } catch {
    // BlockList throws on forms it cannot parse (an IPv6 zone id): not a callback target.
    return false;
  }
}

function isPublicUnchecked(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 4) return !NOT_PUBLIC.check(address, 'ipv4');
  const v4 = embeddedIPv4(address);
  if (v4 !== undefined) return isIP(v4) === 4 && !NOT_PUBLIC.check(v4, 'ipv4');
  // Everything else under ::ffff:0:0/96 or 64:ff9b::/96 that the pattern missed is refused.
  if (NOT_PUBLIC.check(address, 'ipv6')) return false;
  return !/^(?:::ffff:|64:ff9b::)/i.test(address);
}

const refuse = (message: string, details: Record<string, unknown> = {}): ConveyorError =>
  new ConveyorError('ERR_CALLBACK_NOT_ALLOWED', message, { details });

const defaultLookup = (host: string) => dnsLookup(host, { all: true, verbatim: true });

/**
 * The one place that decides whether the producer may POST to a callback URL, against
 * server-side request forgery. It runs when a job is submitted and again before every delivery,
 * so a name that resolves to another address by then (DNS rebinding) is caught. It allows only
 * http(s) URLs whose host resolves, every address of it, to public addresses, unless the policy
 * allows private addresses or lists the host. Throws ERR_CALLBACK_NOT_ALLOWED; `details.reason`
 * is `unresolved` when the lookup failed (which may pass on a later try).
 *
 * The POST that follows resolves the name once more, through `connectLookup`, which applies the
 * same check to the addresses it connects to: a resolver that answers a public address here and a
 * private one a moment later is refused there. Redirects are not followed (delivery.ts), so a
 * public receiver cannot bounce the POST inward.
 */
export async function assertCallbackAllowed(url: string, policy: CallbackPolicy): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw refuse('callback_url must be an http or https URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw refuse('callback_url must be an http or https URL');
  }
  // The WHATWG parser has already turned decimal, octal and hex IPv4 forms into dotted quads.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (policy.allowPrivate || policy.allowedHosts.includes(host)) return;
  let addresses: readonly { address: string }[];
  if (isIP(host) !== 0) {
    addresses = [{ address: host }];
  } else {
    try {
      addresses = await (policy.lookup ?? defaultLookup)(host);
    } catch (cause) {
      throw new ConveyorError(
        'ERR_CALLBACK_NOT_ALLOWED',
        `callback_url host ${host} does not resolve`,
        { details: { host, reason: 'unresolved' }, cause },
      );
    }
  }
  if (addresses.length === 0) {
    throw refuse(`callback_url host ${host} does not resolve`, { host, reason: 'unresolved' });
  }
  const blocked = addresses.find((a) => !isPublicAddress(a.address));
  if (blocked !== undefined) {
    throw refuse(
      `callback_url host ${host} resolves to a non-public address (${blocked.address}); ` +
        'set WEBHOOK_ALLOWED_HOSTS or WEBHOOK_ALLOW_PRIVATE to allow it',
      { host, address: blocked.address, reason: 'not-public' },
    );
  }
}

/**
 * The `lookup` of the delivery's connection: resolves the host and refuses (an error with code
 * ERR_CALLBACK_NOT_ALLOWED) when any of its addresses is not public, unless the policy allows
 * private addresses or lists the host. The socket connects to exactly the addresses checked here,
 * so no later answer of the resolver (DNS rebinding) can redirect it.
 */
export function connectLookup(policy: CallbackPolicy): LookupFunction {
  const resolve = policy.lookup ?? defaultLookup;
  return (hostname, options, callback) => {
    const host = hostname.toLowerCase();
    resolve(host).then(
      (found) => {
        const family = options.family === 4 || options.family === 6 ? options.family : 0;
        const addresses = found
          .map((a) => ({ address: a.address, family: isIP(a.address) }))
          .filter((a) => a.family !== 0 && (family === 0 || a.family === family));
        const exempt = policy.allowPrivate || policy.allowedHosts.includes(host);
        const blocked = exempt ? undefined : addresses.find((a) => !isPublicAddress(a.address));
        if (addresses.length === 0 || blocked !== undefined) {
          const error = Object.assign(
            new Error(
              blocked
                ? `callback_url host ${host} resolves to a non-public address (${blocked.address}) at delivery`
                : `callback_url host ${host} does not resolve`,
            ),
            { code: blocked ? 'ERR_CALLBACK_NOT_ALLOWED' : 'ENOTFOUND' },
          );
          callback(error, '', 0);
          return;
        }
        if (options.all) callback(null, addresses);
        else {
          const first = addresses[0] as { address: string; family: number };
          callback(null, first.address, first.family);
        }
      },
      (error: unknown) =>
        callback(error instanceof Error ? error : new Error(String(error)), '', 0),
    );
  };
}
