/**
 * API keys on gRPC calls: the same keys and rules as REST (plugins/auth.ts), presented as the
 * `authorization` metadata entry (`Bearer <secret>`). ServerLive and ServerReady need none, as
 * REST's health routes; every other call needs a key of scope `infer` when API_KEYS is set.
 */
import type { Metadata } from '@grpc/grpc-js';
import type { KeyCheck, Principal } from '../plugins/auth.js';

/** The one `authorization` value of a call; several count as a wrong key. */
function authorizationOf(metadata: Metadata): string | undefined {
  const values = metadata.get('authorization');
  if (values.length === 0) return undefined;
  const [value] = values;
  return values.length === 1 && typeof value === 'string' ? value : '';
}

/**
 * The key a call authenticated with (undefined when auth is off); throws ERR_UNAUTHORIZED
 * (UNAUTHENTICATED) without a known key.
 */
export const principalOfCall = (keys: KeyCheck, metadata: Metadata): Principal | undefined =>
  keys.check(authorizationOf(metadata), 'infer');

/** The SDK option that makes a call's jobs its API key's: none when auth is off. */
export const ownerOfCall = (principal: Principal | undefined): { owner?: string } =>
  principal ? { owner: principal.name } : {};
