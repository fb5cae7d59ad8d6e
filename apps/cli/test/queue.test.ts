import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConveyorStatusSchema } from '@conveyor/shared';
import { freePort } from '../src/redis-server.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { spawnWorker, type WorkerProcess } from '../../../test/support/workers.js';
import { finished, jsonLines, runCli, startCli, tempDir } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const queue = ['--redis-url', redisUrl, '--prefix', prefix];
const ROWS = 2_000;

describe('conveyor through the queue, with a real worker process', () => {
  let worker: WorkerProcess;

  beforeAll(async () => {
    worker = await spawnWorker(redisUrl, prefix, { LOG_LEVEL: 'info' });
  }, 60_000);

  afterAll(async () => {
    await worker?.stop();
    await dropPrefix(redisUrl, prefix);
  });

  it('predicts through the queue and prints JSON with the job id, or a table', async () => {
    const input = '{"features": [[7.2, 3.2, 6.0, 1.8]]}';
    const [json, table] = await Promise.all([
      runCli(['predict', 'iris', '--input', input, ...queue]),
      runCli(['predict', 'iris', '--input', input, '--output', 'table', ...queue]),
    ]);
    expect(json.code).toBe(0);
    const body = JSON.parse(json.stdout) as {
      jobId: string;
      outputs: { probabilities: { data: number[][] } };
    };
    expect(body.jobId).toMatch(/^iris\./);
    expect(body.outputs.probabilities.data[0]![2]).toBeGreaterThan(0.8);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^iris@1 \(job iris\.1\.[\w-]+\)$/m);
    expect(table.stdout).toMatch(/^0\s.*virginica$/m);
  });

  it('refuses a model no worker serves with exit 2', async () => {
    const run = await runCli(['predict', 'orchid', '--input', '{"x": [[1]]}', ...queue]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^conveyor: ERR_MODEL_NOT_FOUND: /);
  });

  it(`runs a batch of ${ROWS} JSON lines through the queue, every row once, exit 0`, async () => {
    const dir = tempDir();
    const input = join(dir, 'rows.jsonl');
    const rows = Array.from({ length: ROWS }, (_, i) =>
      i % 2 === 0
        ? JSON.stringify({ features: [[4.5 + (i % 30) / 10, 3, 1.5 + (i % 50) / 10, 1]] })
        : JSON.stringify({
            sepal_length: 5,
            sepal_width: 3,
            petal_length: 1 + (i % 50) / 10,
            petal_width: 1,
          }),
    );
    writeFileSync(input, `${rows.join('\n')}\n`);
    const out = join(dir, 'out.jsonl');
    const run = await runCli([
      'batch',
      'iris',
      input,
      '--out',
      out,
      '--concurrency',
      '64',
      '--json',
      ...queue,
    ]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ succeeded: ROWS, failed: 0, skipped: 0 });
    // Not a terminal: progress is plain lines on stderr, ending with the final count.
    expect(run.stderr).toMatch(new RegExp(`conveyor: batch: ${ROWS}/${ROWS} rows, 0 failed`));
    const records = jsonLines(readFileSync(out, 'utf8')) as {
      line: number;
      outputs: { probabilities: number[][] };
    }[];
    expect(new Set(records.map((r) => r.line))).toEqual(
      new Set(Array.from({ length: ROWS }, (_, i) => i + 1)),
    );
    expect(records).toHaveLength(ROWS);
    for (const r of records.slice(0, 50)) expect(r.outputs.probabilities[0]).toHaveLength(3);
  }, 120_000);

  it('prints the status: each version’s queue, its backlog and the live worker', async () => {
    const run = await runCli(['queues', '--json', ...queue]);
    expect(run.code).toBe(0);
    const [status] = jsonLines(run.stdout).map((line) => ConveyorStatusSchema.parse(line));
    const iris = status?.queues.find((q) => q.model === 'iris');
    expect(iris).toMatchObject({
      version: '1',
      workers: 1,
      counts: { waiting: 0, prioritized: 0, active: 0, failed: 0 },
      oldestWaitingSeconds: null,
      backlogSeconds: 0,
    });
    expect(iris!.counts.completed).toBeGreaterThanOrEqual(ROWS);
    expect(iris!.serviceSecondsPerJob).toBeGreaterThan(0);
    expect(status?.queues.map((q) => q.model).sort()).toEqual([
      'iris',
      'ocr',
      'sentiment',
      'text-direction',
      'text-direction-image',
    ]);
    expect(status?.workers).toHaveLength(1);
    expect(status?.workers[0]).toMatchObject({ state: 'ready' });

    // The worker's in-flight count is its last beat's: the jobs above may still be in the one
    // before, so read until that beat has come (8 in flight was seen once).
    let last: Awaited<ReturnType<typeof runCli>> | undefined;
    await expect
      .poll(
        async () => {
          last = await runCli(['queues', ...queue]);
          return last.stdout;
        },
        { timeout: 15_000, interval: 250 },
      )
      .toMatch(/\sready\s+\S*iris@1:ready\S*\s+0$/m);
    const text = last!;
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^model\s+version\s+workers\s+waiting\s+prioritized\s+delayed\s+active\s+failed\s+oldest-s\s+backlog-s\s+done\/s\s+p99-s$/m,
    );
    // One read: no rate yet; the worker's recent p99 is there (its jobs ran above).
    expect(text.stdout).toMatch(/^iris\s+1\s+1\s+0\s+0\s+0\s+0\s+0\s+-\s+0\.000\s+-\s+\d+\.\d+$/m);
    expect(text.stdout).toMatch(/^worker\s+host\s+pid\s+state\s+versions\s+in-flight$/m);
    expect(text.stdout).toMatch(/\sready\s+\S*iris@1:ready\S*\s+0$/m);
  });

  it('shows jobs done per second from the second read on with --watch', async () => {
    const child = startCli(['queues', '--watch', '--interval', '200', ...queue]);
    const exited = finished(child);
    let seen = '';
    const irisRows = () => seen.split('\n').filter((l) => /^iris\s/.test(l));
    await new Promise<void>((resolve) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        seen += chunk.toString('utf8');
        if (irisRows().length >= 2) resolve();
      });
    });
    child.kill('SIGINT');
    expect((await exited).code).toBe(0);
    const doneColumn = (row: string | undefined) => row?.trim().split(/\s+/).at(-2);
    expect(doneColumn(irisRows()[0])).toBe('-');
    // Nothing runs between the two reads: a rate, and it is zero.
    expect(doneColumn(irisRows()[1])).toBe('0.0');
  });

  it('keeps sampling with --watch until SIGINT, then exits 0', async () => {
    const child = startCli(['queues', '--watch', '--json', '--interval', '200', ...queue]);
    const exited = finished(child);
    let seen = '';
    await new Promise<void>((resolve) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        seen += chunk.toString('utf8');
        if (seen.split('\n').filter(Boolean).length >= 2) resolve();
      });
    });
    child.kill('SIGINT');
    const run = await exited;
    expect(run.code).toBe(0);
    expect(jsonLines(run.stdout).length).toBeGreaterThanOrEqual(2);
  });
});

describe('conveyor without Redis', () => {
  it('exits 4 with ERR_QUEUE_UNAVAILABLE when Redis does not answer', async () => {
    const nowhere = `redis://127.0.0.1:${await freePort()}`;
    const [predict, queues] = await Promise.all([
      runCli([
        'predict',
        'iris',
        '--input',
        '{"features": [[1, 2, 3, 4]]}',
        '--redis-url',
        nowhere,
      ]),
      runCli(['queues', '--redis-url', nowhere, '--json']),
    ]);
    expect(predict.code).toBe(4);
    expect(predict.stderr).toMatch(/^conveyor: ERR_QUEUE_UNAVAILABLE: [^\n]+\n$/);
    expect(queues.code).toBe(4);
    expect(jsonLines(queues.stderr)[0]).toMatchObject({ error: { code: 'ERR_QUEUE_UNAVAILABLE' } });
  });
});
