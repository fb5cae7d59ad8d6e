/**
 * A BullMQ worker with no Conveyor code: its processor returns a constant at once. The other half
 * of scenario 8. Environment: REDIS_URL, QUEUE, PREFIX, WORKER_CONCURRENCY.
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const env = process.env;
const connection = new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
  maxRetriesPerRequest: null,
});
const worker = new Worker(env.QUEUE ?? 'plain', () => Promise.resolve(0), {
  connection,
  prefix: env.PREFIX ?? 'bull',
  concurrency: Number(env.WORKER_CONCURRENCY ?? 32),
});
await worker.waitUntilReady();
process.stdout.write('plain worker ready\n');
process.once('SIGTERM', () => {
  void worker
    .close()
    .then(() => connection.quit())
    .then(() => process.exit(0));
});
