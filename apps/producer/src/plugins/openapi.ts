import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsync } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { withUploadForms } from '../uploads/upload-openapi.js';
import { PRODUCER_VERSION } from '../version.js';

/** Where the API documentation is served: the UI here, the OpenAPI document at `/docs/json`. */
export const DOCS_PREFIX = '/docs';

const plugin: FastifyPluginAsync = async (app) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Conveyor producer',
        description:
          'Open Inference Protocol (v2) REST API of Conveyor: ONNX models served behind Redis queues.',
        version: PRODUCER_VERSION,
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer' },
          // The same secret as the password (any user name): what browsers send.
          basicAuth: { type: 'http', scheme: 'basic' },
        },
      },
      // Every route needs an API key (when API_KEYS is set) unless it says `security: []`.
      security: [{ bearerAuth: [] }, { basicAuth: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: (input) => withUploadForms(jsonSchemaTransformObject(input)),
  });
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
};

/**
 * The OpenAPI document, generated from the routes' zod schemas, and swagger-ui. Registered on the
 * app itself before any route, so that it sees every route registered after it.
 */
export const openapi: FastifyPluginAsync = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
});
