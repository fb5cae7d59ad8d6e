import { Agent } from 'node:http';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { queueName, queuePrefix } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { spawnWorker, type WorkerProcess } from '../support/workers.js';
import {
  pool,
  report,
  send,
  spawnProducer,
  type Outcome,
  type ProducerProcess,
} from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();

const DEPTH_LIMIT = 300;
// Requests of the burst while the queue is paused (ten times what it may hold), then while the
// worker drains it; sent open-loop, one every SEND_INTERVAL_MS whatever the answers.
const PAUSED_BURST = 5000;
const RUNNING_BURST = 5000;
const SEND_INTERVAL_MS = 0.25;
const CONNECTIONS = 256;
const REQUEST_TIMEOUT_MS = 30_000;
// The depth is read at most every 250 ms and jobs accepted since are added to it; requests
// checked but not yet enqueued when the next read lands are counted by neither, so the queue can
// overshoot by at most the requests in flight.
const OVERSHOOT = CONNECTIONS;

interface Tally {
  sent: number;
  accepted: string[];
  refused: number;
  /** 429s without a Retry-After of at least one second, or without ERR_QUEUE_FULL. */
  badRefusals: string[];
  serverErrors: string[];
  otherStatuses: string[];
  connectionErrors: string[];
  timeouts: number;
  /** ms from sending to the answer, per answered request. */
  latencies: number[];
  /** ms from the first request sent to the last answer. */
  elapsedMs: number;
}

const tally = (): Tally => ({
  sent: 0,
  accepted: [],
  refused: 0,
  badRefusals: [],
  serverErrors: [],
  otherStatuses: [],
  connectionErrors: [],
  timeouts: 0,
  latencies: [],
  elapsedMs: 0,
});

/** The p-th percentile (0-100) by nearest rank, in whole ms. */
function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[rank]!);
}

const describeBurst = (t: Tally) =>
  `sent ${t.sent} in ${Math.round(t.elapsedMs)} ms, accepted ${t.accepted.length}, refused ${t.refused} (429); answer p50 ${percentile(t.latencies, 50)} ms, p99 ${percentile(t.latencies, 99)} ms`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Counts one answer of the burst. */
function count(t: Tally, outcome: Outcome): void {
  if (outcome.kind === 'timeout') {
    t.timeouts += 1;
    return;
  }
  if (outcome.kind === 'connection-error') {
    t.connectionErrors.push(outcome.message);
    return;
  }
  const { status, headers, body } = outcome;
  if (status === 202) {
    t.accepted.push((JSON.parse(body) as { job_id: string }).job_id);
  } else if (status === 429) {
    t.refused += 1;
    const retryAfter = Number(headers['retry-after']);
    const { code } = JSON.parse(body) as { code?: string };
    if (!(retryAfter >= 1) || code !== 'ERR_QUEUE_FULL') {
      t.badRefusals.push(`${headers['retry-after']} ${body.slice(0, 200)}`);
    }
  } else if (status >= 500) {
    t.serverErrors.push(`${status} ${body.slice(0, 200)}`);
  } else {
    t.otherStatuses.push(`${status} ${body.slice(0, 200)}`);
  }
}

/**
 * A burst ten times what the iris queue may hold, sent open-loop to a producer process: the queue
 * takes up to QUEUE_DEPTH_BY_MODEL, the rest is refused with 429 and Retry-After, and every
 * accepted job completes.
 */
describe('burst far above capacity', () => {
  let worker: WorkerProcess;
  let producer: ProducerProcess;
  let queue: Queue;
  let agent: Agent;

  beforeAll(async () => {
    worker = await spawnWorker(redisUrl, prefix, { MODELS: 'iris' });
    producer = await spawnProducer(redisUrl, prefix, {
      QUEUE_DEPTH_BY_MODEL: JSON.stringify({ iris: DEPTH_LIMIT }),
    });
    queue = new Queue(queueName('iris', '1'), {
      connection: { url: redisUrl },
      prefix: queuePrefix(prefix, queueName('iris', '1')),
      skipMetasUpdate: true,
    });
    agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  }, 120_000);

  afterAll(async () => {
    agent?.destroy();
    await queue?.close();
    await producer?.stop();
    await worker?.stop();
    await dropPrefix(redisUrl, prefix);
  });

  /** Sends `requests` jobs open-loop and resolves when every one has its answer. */
  async function burst(t: Tally, requests: number): Promise<void> {
    const answers: Promise<void>[] = [];
    const started = performance.now();
    for (let i = 0; i < requests; i++) {
      // Half through the /v1 jobs API, half as asynchronous /v2 infers: both are back-pressured.
      const features = [5 + (i % 3) * 0.5, 3, 1 + (i % 5), 0.2];
      const outcome =
        i % 2 === 0
          ? send({
              method: 'POST',
              url: `${producer.url}/v1/models/iris/jobs`,
              body: JSON.stringify({ inputs: { features: [features] } }),
              headers: { 'content-type': 'application/json' },
              timeoutMs: REQUEST_TIMEOUT_MS,
              agent,
            })
          : send({
              method: 'POST',
              url: `${producer.url}/v2/models/iris/infer`,
              body: JSON.stringify({
                inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: features }],
              }),
              headers: { 'content-type': 'application/json', prefer: 'respond-async' },
              timeoutMs: REQUEST_TIMEOUT_MS,
              agent,
            });
      t.sent += 1;
      const sentAt = performance.now();
      answers.push(
        outcome.then((o) => {
          t.latencies.push(performance.now() - sentAt);
          count(t, o);
        }),
      );
      // Open loop: keep to the schedule, never wait for answers.
      const due = started + (i + 1) * SEND_INTERVAL_MS;
      const ahead = due - performance.now();
      if (ahead >= 1) await sleep(ahead);
    }
    await Promise.all(answers);
    t.elapsedMs = performance.now() - started;
  }

  it('takes the burst up to the depth limit, refuses the rest with 429 and Retry-After, and completes every accepted job', async () => {
    await queue.pause();
    const paused = tally();
    await burst(paused, PAUSED_BURST);
    const held = await queue.getJobCounts('waiting', 'prioritized', 'delayed');
    const depth = Object.values(held).reduce((sum, n) => sum + n, 0);

    await queue.resume();
    const running = tally();
    await burst(running, RUNNING_BURST);

    // Every accepted job id, read back through the producer's long poll.
    const accepted = [...paused.accepted, ...running.accepted];
    const results = tally();
    let completed = 0;
    const lost: string[] = [];
    await pool(accepted.length, 32, async (i) => {
      const id = accepted[i]!;
      const outcome = await send({
        method: 'GET',
        url: `${producer.url}/v1/jobs/${id}/result?wait=30`,
        timeoutMs: 40_000,
        agent,
      });
      if (outcome.kind === 'response' && outcome.status === 200) {
        const answer = JSON.parse(outcome.body) as {
          job_id: string;
          outputs: { data: number[] }[];
        };
        const probabilities = answer.outputs[0]?.data ?? [];
        const sum = probabilities.reduce((a, b) => a + b, 0);
        if (answer.job_id === id && probabilities.length === 3 && Math.abs(sum - 1) < 1e-4) {
          completed += 1;
          return;
        }
      }
      if (lost.length < 10) lost.push(`${id}: ${JSON.stringify(outcome).slice(0, 200)}`);
      count(results, outcome);
    });
    const finalCounts = await queue.getJobCounts(
      'completed',
      'failed',
      'waiting',
      'active',
      'delayed',
      'prioritized',
    );

    report(
      [
        '',
        `burst: iris queue limited to ${DEPTH_LIMIT} jobs not yet started, requests sent open-loop every ${SEND_INTERVAL_MS} ms over ${CONNECTIONS} connections`,
        `  queue paused:  ${describeBurst(paused)}; queue depth after ${depth}`,
        `  queue running: ${describeBurst(running)}`,
        `  accepted ${accepted.length}, completed ${completed}, lost ${accepted.length - completed}`,
        `  5xx ${paused.serverErrors.length + running.serverErrors.length + results.serverErrors.length}, connection errors ${paused.connectionErrors.length + running.connectionErrors.length + results.connectionErrors.length}, timeouts ${paused.timeouts + running.timeouts + results.timeouts}`,
        `  queue at the end: ${JSON.stringify(finalCounts)}`,
        '',
      ].join('\n'),
    );

    for (const t of [paused, running]) {
      expect(t.serverErrors).toEqual([]);
      expect(t.connectionErrors).toEqual([]);
      expect(t.timeouts).toBe(0);
      expect(t.otherStatuses).toEqual([]);
      expect(t.badRefusals).toEqual([]);
      expect(t.accepted.length + t.refused).toBe(t.sent);
    }
    // Paused: the queue absorbs up to its limit (and no more than the requests in flight past it),
    // and holds exactly the jobs that were accepted: a refused request enqueued nothing.
    expect(paused.accepted.length).toBeGreaterThanOrEqual(DEPTH_LIMIT);
    expect(paused.accepted.length).toBeLessThanOrEqual(DEPTH_LIMIT + OVERSHOOT);
    expect(paused.refused).toBeGreaterThan(0);
    expect(depth).toBe(paused.accepted.length);
    // Running: the worker frees room, so more is taken than one queue-full.
    expect(running.accepted.length).toBeGreaterThan(0);
    // Nothing accepted is lost.
    expect(lost).toEqual([]);
    expect(completed).toBe(accepted.length);
    expect(finalCounts).toEqual({
      completed: accepted.length,
      failed: 0,
      waiting: 0,
      active: 0,
      delayed: 0,
      prioritized: 0,
    });
  }, 240_000);
});
