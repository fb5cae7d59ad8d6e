/**
 * `conveyor batch` through the queue when Redis goes away mid-run: the run stops with
 * ERR_QUEUE_UNAVAILABLE (exit code for Redis unavailable) instead of carrying on, and the rows it
 * could not finish are not written to --failed, so the next run (a resume) does them.
 * The test starts (and kills) its own redis-server on a free loopback port.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueName, queuePrefix } from '@conveyor/shared';
import { spawnWorker, type WorkerProcess } from '../../../test/support/workers.js';
import { EXIT } from '../src/exit-codes.js';
import { startRedisServer } from '../src/redis-server.js';
import { finished, jsonLines, runCli, startCli, tempDir } from './support.js';

const ROWS = 60;
const prefix = 'batch-lost';

type Redis = Awaited<ReturnType<typeof startRedisServer>>;

const linesOf = (path: string): { line: number; code?: string }[] =>
  existsSync(path) ? (jsonLines(readFileSync(path, 'utf8')) as { line: number }[]) : [];

describe('conveyor batch when Redis goes away mid-run', () => {
  let redis: Redis | undefined;
  let worker: WorkerProcess | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
  }, 30_000);

  afterAll(async () => {
    await worker?.stop();
    await redis?.stop();
  });

  it('stops with ERR_QUEUE_UNAVAILABLE, keeps unfinished rows out of --failed, and a resume does them', async () => {
    const url = redis!.url;
    const port = redis!.port;
    // The worker announces iris (so the CLI knows its signature), then its queue is paused:
    // every row of the batch stays queued until Redis goes away.
    worker = await spawnWorker(url, prefix, { MODELS: 'iris' });
    const queue = new Queue(queueName('iris', '1'), {
      connection: { url },
      prefix: queuePrefix(prefix, queueName('iris', '1')),
    });
    await queue.pause();

    const dir = tempDir();
    const input = join(dir, 'rows.jsonl');
    writeFileSync(
      input,
      `${Array.from({ length: ROWS }, (_, i) => JSON.stringify({ features: [[5 + (i % 9) / 10, 3, 1.4, 0.2]] })).join('\n')}\n`,
    );
    const out = join(dir, 'out.jsonl');
    const failed = join(dir, 'failed.jsonl');
    const args = ['batch', 'iris', input, '--out', out, '--failed', failed, '--json'];
    const cli = startCli([...args, '--concurrency', '16', '--redis-url', url, '--prefix', prefix]);
    const run = finished(cli);
    try {
      // The batch has rows queued, packed into jobs (none can finish while the queue is paused).
      await expect
        .poll(async () => (await queue.getJobCounts('waiting')).waiting, { timeout: 20_000 })
        .toBeGreaterThanOrEqual(1);
      await queue.close();
      await worker.stop();
      worker = undefined;
      await redis!.stop();
      redis = undefined;

      const lost = await run;
      expect(lost.code).toBe(EXIT.REDIS_UNAVAILABLE);
      expect(lost.stderr).toMatch(/ERR_QUEUE_UNAVAILABLE/);
      // Nothing was finished, and nothing it could not submit or wait for is marked failed.
      expect(linesOf(out)).toEqual([]);
      expect(linesOf(failed)).toEqual([]);
    } finally {
      if (cli.exitCode === null) cli.kill('SIGKILL');
    }

    // Redis is back (empty) with a worker: the same command does every row, each once.
    redis = await startRedisServer({ port });
    worker = await spawnWorker(redis.url, prefix, { MODELS: 'iris' });
    const resumed = await runCli([...args, '--redis-url', redis.url, '--prefix', prefix]);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ succeeded: ROWS, failed: 0, skipped: 0 });
    const done = linesOf(out).map((r) => r.line);
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: ROWS }, (_, i) => i + 1));
    expect(linesOf(failed)).toEqual([]);
  }, 120_000);
});
