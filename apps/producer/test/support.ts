import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createClient, type QueueClient } from '@conveyor/sdk';
import { createLogger, loadConfig, type Config } from '@conveyor/shared';
import { buildApp, type App } from '../src/app.js';
import { clientOptionsFromConfig } from '../src/client-options.js';

export const MODELS = fileURLToPath(new URL('../../../models', import.meta.url));

/** The configuration a producer (or a worker) of one test prefix runs with. */
export function testConfig(
  redisUrl: string,
  prefix: string,
  env: Record<string, string> = {},
): Config {
  return loadConfig({
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    MODEL_REPOSITORY: MODELS,
    LOG_LEVEL: 'silent',
    ...env,
  });
}

export interface TestProducer {
  app: App;
  client: QueueClient;
  close(): Promise<void>;
}

/** buildApp with a real SDK client and a real PING on the config's Redis and prefix. */
export async function startProducer(config: Config): Promise<TestProducer> {
  const logger = createLogger({ level: config.LOG_LEVEL, component: 'producer' });
  const client = await createClient(clientOptionsFromConfig(config, logger));
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const app = buildApp(config, {
    client,
    logger,
    redisPing: async () => (await redis.ping()) === 'PONG',
  });
  await app.ready();
  return {
    app,
    client,
    async close() {
      await app.close();
      await client.close();
      redis.disconnect();
    },
  };
}

/** A client whose every call fails: for routes that must refuse a request before using it. */
export function unusedClient(overrides: Partial<QueueClient> = {}): QueueClient {
  const unused = () => Promise.reject(new Error('the test client was called'));
  return {
    predict: unused,
    enqueue: unused,
    enqueueMany: unused,
    predictMany: () => {
      throw new Error('the test client was called');
    },
    job: () => {
      throw new Error('the test client was called');
    },
    models: () => Promise.resolve([]),
    jobIdFor: unused,
    workers: unused,
    status: unused,
    aliases: () => Promise.resolve({}),
    compare: unused,
    replay: unused,
    drift: unused,
    predictionLog: () => {
      throw new Error('the test client was called');
    },
    predictionLogSize: unused,
    feedback: unused,
    accuracy: unused,
    close: () => Promise.resolve(),
    ...overrides,
  };
}
