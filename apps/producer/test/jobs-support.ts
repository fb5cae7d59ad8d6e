import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createClient } from '@conveyor/sdk';
import { createLogger, queueName, type Config, queuePrefix } from '@conveyor/shared';
import { buildApp, type AppDeps } from '../src/app.js';
import { clientOptionsFromConfig } from '../src/client-options.js';
import type { TestProducer } from './support.js';

/** Like startProducer, with the /v1 timers shortened as a test asks. */
export async function startJobsProducer(
  config: Config,
  tuning: AppDeps['jobsTuning'] = {},
): Promise<TestProducer> {
  const logger = createLogger({ level: config.LOG_LEVEL, component: 'producer' });
  const client = await createClient(clientOptionsFromConfig(config, logger));
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const app = buildApp(config, {
    client,
    logger,
    redisPing: async () => (await redis.ping()) === 'PONG',
    jobsTuning: tuning,
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

/** A BullMQ queue of one model on a test prefix, to pause it, look at jobs, or add bad ones. */
export function modelQueue(redisUrl: string, prefix: string, model: string): Queue {
  return new Queue(queueName(model, '1'), {
    connection: { url: redisUrl },
    prefix: queuePrefix(prefix, queueName(model, '1')),
  });
}

/** One Server-Sent Event; `comment` holds a comment line's text (heartbeats). */
export interface SseEvent {
  event?: string;
  data?: unknown;
  comment?: string;
}

/** Reads a text/event-stream body event by event until it ends. */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent, void> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const event: SseEvent = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) event.comment = line.slice(1).trim();
        else if (line.startsWith('event: ')) event.event = line.slice(7);
        else if (line.startsWith('data: ')) event.data = JSON.parse(line.slice(6)) as unknown;
      }
      yield event;
    }
  }
}

/** The lines of an NDJSON text, parsed. */
export const ndjson = <T>(text: string): T[] =>
  text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);

export const IRIS_ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 4.2, 1.5],
];

/** Iris inputs in the protocol form of the /v1 API. */
export const irisInputs = (rows: number[][] = IRIS_ROWS) => ({
  features: { shape: [rows.length, 4], datatype: 'FP32', data: rows.flat() },
});
