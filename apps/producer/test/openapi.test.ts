import { describe, expect, inject, it } from 'vitest';
import { createLogger } from '@conveyor/shared';
import { uniquePrefix } from '../../../test/support/prefix.js';
import { buildApp } from '../src/app.js';
import { testConfig, unusedClient } from './support.js';

interface Operation {
  responses?: Record<string, unknown>;
  requestBody?: { content?: Record<string, unknown> };
  security?: unknown[];
  parameters?: { name: string; in: string }[];
}
interface Document {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components?: { securitySchemes?: Record<string, unknown> };
  security?: unknown[];
}

/** fastify's `/:name` as OpenAPI writes it, `/{name}`; `::` is fastify's escaped literal ":". */
const openApiPath = (url: string) =>
  url
    .split('::')
    .map((part) => part.replace(/:([A-Za-z0-9_]+)/g, '{$1}'))
    .join(':');

describe('OpenAPI document', () => {
  const build = () => {
    const app = buildApp(
      testConfig(inject('redisUrl'), uniquePrefix(), { API_KEYS: 'ci:infer:0123456789abcdef0123' }),
      {
        client: unusedClient(),
        redisPing: () => Promise.resolve(true),
        logger: createLogger({ level: 'silent', component: 'producer' }),
      },
    );
    const routes: { method: string; url: string; hidden: boolean }[] = [];
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) {
        if (method === 'HEAD') continue;
        const hidden = (route.schema as { hide?: boolean } | undefined)?.hide === true;
        routes.push({ method: method.toLowerCase(), url: route.url, hidden });
      }
    });
    return { app, routes };
  };

  it('serves a valid OpenAPI 3 document at /docs/json that lists every route', async () => {
    const { app, routes } = build();
    await app.ready();
    const response = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(response.statusCode).toBe(200);
    const doc = response.json<Document>();
    expect(doc.openapi).toMatch(/^3\.[01]\.[0-9]+$/);
    expect(typeof doc.info.title).toBe('string');
    expect(doc.info.version).toMatch(/^[0-9]+\.[0-9]+\.[0-9]+/);

    const listed = routes.filter((r) => !r.hidden && !r.url.startsWith('/docs'));
    expect(listed.length).toBeGreaterThanOrEqual(9);
    const missing = listed.filter((r) => doc.paths[openApiPath(r.url)]?.[r.method] === undefined);
    expect(missing).toEqual([]);
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        expect({
          path,
          method,
          responses: Object.keys(operation.responses ?? {}).length > 0,
        }).toEqual({ path, method, responses: true });
        for (const name of path.match(/\{([^}]+)\}/g) ?? []) {
          const param = name.slice(1, -1);
          expect({
            path,
            method,
            param,
            declared: operation.parameters?.some((p) => p.name === param && p.in === 'path'),
          }).toEqual({ path, method, param, declared: true });
        }
      }
    }
    await app.close();
  });

  it('describes the protocol routes from their zod schemas, and which routes need no key', async () => {
    const { app } = build();
    await app.ready();
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<Document>();
    for (const path of [
      '/v2',
      '/v2/health/live',
      '/v2/health/ready',
      '/v2/models/{name}',
      '/v2/models/{name}/versions/{version}',
      '/v2/models/{name}/ready',
      '/v2/models/{name}/versions/{version}/ready',
    ])
      expect({ path, get: doc.paths[path]?.get !== undefined }).toEqual({ path, get: true });
    const infer = doc.paths['/v2/models/{name}/infer']?.post;
    expect(Object.keys(infer?.responses ?? {})).toEqual(
      expect.arrayContaining(['200', '202', '400', '401', '404', '413', '415', '429', '504']),
    );
    expect(infer?.requestBody?.content).toHaveProperty('application/json');
    expect(doc.components?.securitySchemes).toHaveProperty('bearerAuth');
    expect(doc.components?.securitySchemes).toHaveProperty('basicAuth');
    expect(doc.security).toEqual([{ bearerAuth: [] }, { basicAuth: [] }]);
    expect(doc.paths['/v2/health/live']?.get?.security).toEqual([]);
    await app.close();
  });

  it('serves the swagger-ui page at /docs', async () => {
    const { app } = build();
    const response = await app.inject({ method: 'GET', url: '/docs/' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/html');
    await app.close();
  });
});
