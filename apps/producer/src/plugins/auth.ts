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

const SCHEME = /^Bearer[ \t]+(\S+)[ \t]*$/i;

function isPublic(request: FastifyRequest): boolean {
  const url = request.routeOptions.url;
  return (
    url !== undefined && PUBLIC_PATHS.some((path) => url === path || url.startsWith(`${path}/`))
  );
}

const plugin: FastifyPluginCallback<AuthOptions> = (app, { keys }, done) => {
  // Hashing gives every secret the same length, so timingSafeEqual compares them in constant time.
  const known = keys.map((key) => ({ name: key.name, scope: key.scope, hash: digest(key.secret) }));

  /** The key whose secret the bearer token is; every key is compared, match or not. */
  const principalOf = (request: FastifyRequest): Principal | undefined => {
    const token = SCHEME.exec(request.headers.authorization ?? '')?.[1];
    if (token === undefined) return undefined;
    const hash = digest(token);
    let match: Principal | undefined;
    for (const key of known) {
      if (timingSafeEqual(key.hash, hash)) match = { name: key.name, scope: key.scope };
    }
    return match;
  };

  /** Throws ERR_UNAUTHORIZED or ERR_FORBIDDEN unless the request has a key of `scope`. */
  const check = (request: FastifyRequest, scope: Scope): void => {
    if (known.length === 0) return;
    const principal = request.principal ?? principalOf(request);
    if (principal === undefined) {
      throw new ConveyorError(
        'ERR_UNAUTHORIZED',
        request.headers.authorization === undefined
          ? 'this route needs an API key: send Authorization: Bearer <secret>'
          : 'the API key is not valid',
      );
    }
    request.principal = principal;
    if (scope === 'admin' && principal.scope !== 'admin') {
      throw new ConveyorError(
        'ERR_FORBIDDEN',
        `API key "${principal.name}" has scope ${principal.scope}; this route needs admin`,
        { details: { key: principal.name, scope: principal.scope, needs: scope } },
      );
    }
  };

  // A throw inside the executor rejects the promise, which fastify hands to the error handler.
  const requireScope =
    (scope: Scope): ScopeHook =>
    (request) =>
      new Promise<void>((resolve) => {
        check(request, scope);
        resolve();
      });

  if (known.length === 0) {
    app.log.warn('API_KEYS is empty: authentication is off and every route is open');
  }
  app.decorateRequest('principal', undefined);
  app.decorate('requireScope', requireScope);
  const requireInfer = requireScope('infer');
  app.addHook('onRequest', async (request, reply) => {
    if (!isPublic(request)) await requireInfer(request, reply);
  });
  done();
};

/**
 * API keys from API_KEYS as `Authorization: Bearer <secret>`. Installed on the app itself (not a
 * child context) so its hook guards every route registered after it: `infer` by default, open
 * for PUBLIC_PATHS; routes that need more add `app.requireScope('admin')`.
 */
export const auth: FastifyPluginCallback<AuthOptions> = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
});
