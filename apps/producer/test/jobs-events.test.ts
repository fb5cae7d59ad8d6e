import { get } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import type { ErrorBody } from '../src/oip/schemas.js';
import {
  irisInputs,
  modelQueue,
  sseEvents,
  startJobsProducer,
  type SseEvent,
} from './jobs-support.js';
import { testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });

describe('GET /v1/jobs/{id}/events (Server-Sent Events) on a listening producer', () => {
  let worker: WorkerService;
  let producer: TestProducer;
  let base: string;
  let iris: Queue;

  const start = async () => {
    producer = await startJobsProducer(testConfig(redisUrl, prefix, { SSE_HEARTBEAT_MS: '100' }));
    await producer.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(producer.app.server.address() as AddressInfo).port}`;
  };

  beforeAll(async () => {
    worker = await startWorkerService(testConfig(redisUrl, prefix), silent);
    iris = modelQueue(redisUrl, prefix, 'iris');
    await start();
  }, 60_000);

  afterEach(async () => {
    await iris.resume();
  });

  afterAll(async () => {
    await iris?.close();
    await producer?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
  });

  const submit = async (parameters: Record<string, unknown> = {}): Promise<string> => {
    const response = await fetch(`${base}/v1/models/iris/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: irisInputs(), parameters }),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { job_id: string }).job_id;
  };

  /** Opens a job's event stream; `next()` gives the next event that is not a heartbeat. */
  const open = async (id: string) => {
    const response = await fetch(`${base}/v1/jobs/${id}/events`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = sseEvents(response.body!);
    const seen: SseEvent[] = [];
    return {
      seen,
      /** The next event or comment line. */
      async raw(): Promise<SseEvent | undefined> {
        const { value, done } = await events.next();
        if (done) return undefined;
        seen.push(value);
        return value;
      },
      async next(): Promise<SseEvent | undefined> {
        for (;;) {
          const { value, done } = await events.next();
          if (done) return undefined;
          seen.push(value);
          if (value.event !== undefined) return value;
        }
      },
    };
  };

  it('sends the state, each change with heartbeats between, the completed result, then ends', async () => {
    await iris.pause();
    const id = await submit();
    const stream = await open(id);
    expect(await stream.next()).toMatchObject({
      event: 'state',
      data: { job_id: id, state: 'waiting', attempts_made: 0 },
    });
    // Paused, the job waits: a heartbeat comes before any other event.
    expect(await stream.raw()).toEqual({ comment: 'heartbeat' });
    await iris.resume();
    const events: SseEvent[] = [];
    for (let event = await stream.next(); event; event = await stream.next()) events.push(event);
    expect(events.map((e) => e.event)).toEqual(['active', 'completed']);
    expect(events[1]!.data).toMatchObject({
      job_id: id,
      model: 'iris',
      status: 'completed',
      result: { model_name: 'iris', outputs: [{ name: 'probabilities', shape: [3, 3] }] },
    });
  });

  it('sends the outcome at once for a job that already ended, then ends', async () => {
    const id = await submit();
    await fetch(`${base}/v1/jobs/${id}/result?wait=20`);
    const stream = await open(id);
    expect(await stream.next()).toMatchObject({ event: 'state', data: { state: 'completed' } });
    expect(await stream.next()).toMatchObject({
      event: 'completed',
      data: { status: 'completed' },
    });
    expect(await stream.next()).toBeUndefined();
  });

  it('ends with a failed event that carries the code of a failed job', async () => {
    await iris.pause();
    const id = await submit({ deadline: Date.now() + 200 });
    const stream = await open(id);
    expect(await stream.next()).toMatchObject({ event: 'state', data: { state: 'waiting' } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await iris.resume();
    let last: SseEvent | undefined;
    for (let event = await stream.next(); event; event = await stream.next()) last = event;
    expect(last).toMatchObject({
      event: 'failed',
      data: { job_id: id, status: 'failed', error: { code: 'ERR_DEADLINE_EXCEEDED', status: 504 } },
    });
  });

  it('ends with removed when the job is cancelled while streaming', async () => {
    await iris.pause();
    const id = await submit();
    const stream = await open(id);
    await stream.next();
    expect((await fetch(`${base}/v1/jobs/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await stream.next()).toMatchObject({ event: 'removed', data: { job_id: id } });
    expect(await stream.next()).toBeUndefined();
  });

  it('answers 404 ERR_JOB_NOT_FOUND as JSON, not a stream, for an unknown job', async () => {
    const response = await fetch(
      `${base}/v1/jobs/iris.1.00000000-0000-0000-0000-000000000000/events`,
    );
    expect(response.status).toBe(404);
    expect(((await response.json()) as ErrorBody).code).toBe('ERR_JOB_NOT_FOUND');
  });

  it('lets a client go away, and ends open streams when the producer closes', async () => {
    await iris.pause();
    const id = await submit();
    // A client that reads the first event and hangs up (node:http, so the socket really goes).
    await new Promise<void>((resolve, reject) => {
      const request = get(`${base}/v1/jobs/${id}/events`, (response) => {
        expect(response.statusCode).toBe(200);
        response.once('data', () => {
          request.destroy();
          resolve();
        });
      });
      request.on('error', reject);
    });
    const stays = await open(id);
    expect(await stays.next()).toMatchObject({ event: 'state' });
    // close() returns only once every connection ended: open streams must not hold it.
    await producer.close();
    expect(await stays.next()).toBeUndefined();
    await start();
  });
});
