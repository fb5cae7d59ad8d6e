import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniquePrefix } from '../support/prefix.js';
import { spawnWorker, type WorkerProcess } from '../support/workers.js';
import { recordScenario } from './summary.js';
import {
  startPersistentRedis,
  startProducer,
  type AppProcess,
  type PersistentRedis,
} from './support.js';

const JOBS = 20;
const BODY = JSON.stringify({ inputs: { features: [[6.3, 2.9, 5.6, 1.8]] } });

/** An HTTP client waiting for a result: long-polls, and on a refused connection tries again. */
async function waitForResult(
  base: () => string,
  id: string,
): Promise<{ status: number; body: unknown; retries: number }> {
  let retries = 0;
  for (;;) {
    try {
      const res = await fetch(`${base()}/v1/jobs/${id}/result?wait=5`);
      if (res.status !== 202) return { status: res.status, body: await res.json(), retries };
      await res.body?.cancel();
    } catch {
      retries += 1;
      if (retries > 200) throw new Error(`no producer answered for job ${id}`);
      await sleep(100);
    }
  }
}

describe('producer restart while clients wait for results', () => {
  const prefix = uniquePrefix();
  let redis: PersistentRedis;
  let producer: AppProcess & { base: string; port: number };
  let worker: WorkerProcess | undefined;

  beforeAll(async () => {
    redis = await startPersistentRedis('everysec');
    producer = await startProducer(redis.url, prefix);
  });

  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await producer?.stop('SIGKILL');
    await redis?.stop();
  });

  it('serves every result by job id from the next producer, after SIGTERM and after kill -9', async () => {
    const submit = async () => {
      const res = await fetch(`${producer.base}/v1/models/iris/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: BODY,
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as { job_id: string }).job_id;
    };
    // A worker announces iris, then stops: the jobs wait in Redis while their clients long-poll.
    const announcer = await spawnWorker(redis.url, prefix);
    // (Its exit code is not checked: main.ts installs its signal handlers just after "worker ready".)
    await announcer.stop('SIGTERM');
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) ids.push(await submit());
    const waiting = ids.map((id) => waitForResult(() => producer.base, id));
    await sleep(300);

    const port = producer.port;
    expect(await producer.stop('SIGTERM')).toBe(0);
    producer = await startProducer(redis.url, prefix, port);
    // A second round of jobs, then a crash of the producer.
    for (let i = 0; i < JOBS; i++) ids.push(await submit());
    waiting.push(...ids.slice(JOBS).map((id) => waitForResult(() => producer.base, id)));
    await sleep(300);
    await producer.stop('SIGKILL');
    producer = await startProducer(redis.url, prefix, port);

    worker = await spawnWorker(redis.url, prefix);
    const answers = await Promise.all(waiting);
    for (const [i, answer] of answers.entries()) {
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ job_id: ids[i], model_name: 'iris' });
    }
    recordScenario({
      scenario: 'producer restart while clients wait',
      faults: 'SIGTERM, then kill -9, of the producer',
      submitted: ids.length,
      completed: answers.length,
      lost: ids.length - answers.length,
      duplicated: 0,
      note: `${answers.filter((a) => a.retries > 0).length} waiting clients saw a refused connection and asked again`,
    });
  });
});
