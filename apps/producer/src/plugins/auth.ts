import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { ConveyorError, type Config } from '@conveyor/shared';

/** What an API key may do: `infer` runs models and reads jobs, `admin` also the dashboard. */
export type Scope = 'infer' | 'admin';

/** The key a request authenticated with; never the secret. */
export interface Principal {
  name: string;
  scope: Scope;
}

/** A hook that checks a request's API key; usable as `onRequest` or `preHandler`. */
export type ScopeHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * A hook (for `onRequest` or `preHandler`) that refuses a request without an API key of
     * `scope`: 401 ERR_UNAUTHORIZED without a known key, 403 ERR_FORBIDDEN without the scope.
     * It lets everything through when API_KEYS is empty (auth off).
     */
    requireScope(scope: Scope): ScopeHook;
  }
  interface FastifyRequest {
    /** The API key of the request once a scope check has passed; undefined when auth is off. */
    principal?: Principal;
  }
}

export interface AuthOptions {
  keys: Config['API_KEYS'];
}

/**
 * Route paths, with everything under them, that need no key: health probes and the API
 * documentation. Every other route, including unknown ones, needs `infer` at least.
 */
export const PUBLIC_PATHS: readonly string[] = ['/v2/health', '/docs'];

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;
const BASIC = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i;

/**
 * The secret a request presents: a bearer token, or the password of HTTP Basic credentials (the
 * user name is not checked), which is what a browser can send for the dashboard.
 */
function presentedSecret(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const bearer = BEARER.exec(authorization)?.[1];
  if (bearer !== undefined) return bearer;
  const basic = BASIC.exec(authorization)?.[1];
  if (basic === undefined) return undefined;
  const credentials = Buffer.from(basic, 'base64').toString('utf8');
  const colon = credentials.indexOf(':');
  return colon < 0 ? undefined : credentials.slice(colon + 1);
}

/** Route paths, with everything under them, that need the admin scope (the dashboards). */
export const ADMIN_PATHS: readonly string[] = ['/dashboard', '/console', '/v1/status/history'];

const under = (request: FastifyRequest, paths: readonly string[]): boolean => {
  const url = request.routeOptions.url;
  return url !== undefined && paths.some((path) => url === path || url.startsWith(`${path}/`));
};

const isAdmin = (request: FastifyRequest): boolean => under(request, ADMIN_PATHS);

const isPublic = (request: FastifyRequest): boolean => under(request, PUBLIC_PATHS);

/** API key checks without fastify, shared by the HTTP hook and the gRPC service. */
export interface KeyCheck {
  /** False when API_KEYS is empty: auth is off and every check passes. */
  readonly enabled: boolean;
  /**
   * The key presented as `authorization` (`Bearer <secret>` or Basic), checked for `scope`:
   * undefined when auth is off; throws ERR_UNAUTHORIZED without a known key and ERR_FORBIDDEN
   * without the scope. `known` skips the look-up when a previous check found the key.
   */
  check(authorization: string | undefined, scope: Scope, known?: Principal): Principal | undefined;
}

export function createKeyCheck(keys: Config['API_KEYS']): KeyCheck {
  // Hashing gives every secret the same length, so timingSafeEqual compares them in constant time.
  const known = keys.map((key) => ({ name: key.name, scope: key.scope, hash: digest(key.secret) }));

  /** The key whose secret the bearer token is; every key is compared, match or not. */
  const principalOf = (authorization: string | undefined): Principal | undefined => {
    const token = presentedSecret(authorization);
    if (token === undefined || token === '') return undefined;
    const hash = digest(token);
    let match: Principal | undefined;
    for (const key of known) {
      if (timingSafeEqual(key.hash, hash)) match = { name: key.name, scope: key.scope };
    }
    return match;
  };

  const check = (
    authorization: string | undefined,
    scope: Scope,
    found?: Principal,
  ): Principal | undefined => {
    if (known.length === 0) return undefined;
    const principal = found ?? principalOf(authorization);
    if (principal === undefined) {
      throw new ConveyorError(
        'ERR_UNAUTHORIZED',
        authorization === undefined
          ? 'this route needs an API key: send Authorization: Bearer <secret>'
          : 'the API key is not valid',
        // Admin routes (the dashboard) are opened in browsers: they also ask for Basic credentials.
        scope === 'admin' ? { details: { needs: scope } } : undefined,
      );
    }
    if (scope === 'admin' && principal.scope !== 'admin') {
      throw new ConveyorError(
        'ERR_FORBIDDEN',
        `API key "${principal.name}" has scope ${principal.scope}; this route needs admin`,
        { details: { key: principal.name, scope: principal.scope, needs: scope } },
      );
    }
    return principal;
  };
  return { enabled: known.length > 0, check };
}

const plugin: FastifyPluginCallback<AuthOptions> = (app, { keys }, done) => {
  const keyCheck = createKeyCheck(keys);

  /** Throws ERR_UNAUTHORIZED or ERR_FORBIDDEN unless the request has a key of `scope`. */
  const check = (request: FastifyRequest, scope: Scope): void => {
    const principal = keyCheck.check(request.headers.authorization, scope, request.principal);
    if (principal !== undefined) request.principal = principal;
  };

  // A throw inside the executor rejects the promise, which fastify hands to the error handler.
  const requireScope =
    (scope: Scope): ScopeHook =>
    (request) =>
      new Promise<void>((resolve) => {
        check(request, scope);
        resolve();
      });

  if (!keyCheck.enabled) {
    app.log.warn('API_KEYS is empty: authentication is off and every route is open');
  }
  app.decorateRequest('principal', undefined);
  app.decorate('requireScope', requireScope);
  const requireInfer = requireScope('infer');
  const requireAdmin = requireScope('admin');
  // With auth off every check passes: no hook runs on each request.
  if (keyCheck.enabled)
    app.addHook('onRequest', async (request, reply) => {
      if (isPublic(request)) return;
      // The dashboard's own hook asks for admin too; checking it first gives browsers the Basic
      // challenge on their first, key-less request.
      if (isAdmin(request)) await requireAdmin(request, reply);
      else await requireInfer(request, reply);
    });
  done();
};

/** The SDK option that makes a request's jobs its API key's: none when auth is off. */
export const ownerOf = (request: FastifyRequest): { owner?: string } =>
  request.principal ? { owner: request.principal.name } : {};

/**
 * Whether a request may see a job whose payload names `owner`: jobs belong to the key that
 * created them; an admin key (and anyone when auth is off) sees every job. A job of another key
 * is answered as one that does not exist, so its id tells nothing.
 */
export function mayReadJob(request: FastifyRequest, data: unknown): boolean {
  const principal = request.principal;
  if (principal === undefined || principal.scope === 'admin') return true;
  const owner: unknown =
    typeof data === 'object' && data !== null && 'owner' in data ? data.owner : undefined;
  return owner === principal.name;
}

/**
 * API keys from API_KEYS as `Authorization: Bearer <secret>` (or HTTP Basic with the secret as the
 * password, for browsers). Installed on the app itself (not a
 * child context) so its hook guards every route registered after it: `infer` by default, open
 * for PUBLIC_PATHS; routes that need more add `app.requireScope('admin')`.
 */
export const auth: FastifyPluginCallback<AuthOptions> = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
});
