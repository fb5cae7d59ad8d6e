/**
 * A BullMQ worker with no Conveyor code: its processor returns a constant at once (RETURN, a JSON
 * value, or 0), or with BYTES=1 first takes the bytes its job names (GETDEL, the fewest commands
 * that read and drop them). The other half of scenario 8. Environment: REDIS_URL, QUEUE, PREFIX,
 * WORKER_CONCURRENCY, BYTES, RETURN.
 */
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';

const env = process.env;
const connection = new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
  maxRetriesPerRequest: null,
});
const returned: unknown = JSON.parse(env.RETURN || '0');
const takeBytes = async (job: Job<{ key: string }>) => {
  const bytes = await connection.getdelBuffer(job.data.key);
  if (bytes === null) throw new Error(`no bytes at ${job.data.key}`);
  return bytes.length;
};
const worker = new Worker(
  env.QUEUE ?? 'plain',
  env.BYTES === '1' ? takeBytes : () => Promise.resolve(returned),
  {
    connection,
    prefix: env.PREFIX ?? 'bull',
    concurrency: Number(env.WORKER_CONCURRENCY ?? 32),
  },
);
await worker.waitUntilReady();
process.stdout.write('plain worker ready\n');
process.once('SIGTERM', () => {
  void worker
    .close()
    .then(() => connection.quit())
    .then(() => process.exit(0));
});
