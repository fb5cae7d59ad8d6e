/**
 * A closed-loop HTTP load generator, autocannon-like and kept simple: a fixed number of requests
 * over a fixed number of keep-alive connections, each sending its next request when the previous
 * one is answered. Loopback only.
 */
import { Agent, request } from 'node:http';
import { percentile, round } from './lib.js';
import type { IngestSide } from './results.js';

export interface LoadOptions {
  port: number;
  path: string;
  body: Buffer;
  headers: Record<string, string>;
  requests: number;
  concurrency: number;
  /** Each request fails after this long (default 10 s). */
  timeoutMs?: number;
}

/**
 * One POST over `agent` that keeps the answer's body; rejects with an AbortError once `timeoutMs`
 * (default 10 s) have passed since it was sent, whatever stage it is at.
 */
export function exchange(
  agent: Agent,
  options: Omit<LoadOptions, 'requests' | 'concurrency'>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: options.port,
        path: options.path,
        method: 'POST',
        agent,
        headers: { ...options.headers, 'content-length': String(options.body.byteLength) },
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.once('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
        response.once('error', reject);
      },
    );
    req.once('error', reject);
    req.end(options.body);
  });
}

/** One POST over `agent`; resolves with the status once the whole answer has been read. */
export const send = (
  agent: Agent,
  options: Omit<LoadOptions, 'requests' | 'concurrency'>,
): Promise<number> => exchange(agent, options).then(({ status }) => status);

/** Sends `requests` POSTs with `concurrency` in flight and reports the rate and latencies. */
export async function load(options: LoadOptions): Promise<IngestSide> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let next = 0;
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (next < options.requests) {
          next += 1;
          const t0 = performance.now();
          const status = await send(agent, options).then(String, () => 'error');
          latencies.push(performance.now() - t0);
          statuses[status] = (statuses[status] ?? 0) + 1;
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    requests: options.requests,
    concurrency: options.concurrency,
    requestsPerSecond: round(options.requests / seconds, 0),
    p50Ms: round(percentile(latencies, 50), 2),
    p99Ms: round(percentile(latencies, 99), 2),
    statuses,
  };
}

/**
 * Warms a server up before it is measured, as a running service is (JIT, connections, first
 * jobs): `options.requests` requests, every one of which must be answered with a status `answer`
 * matches.
 */
export async function warmUp(options: LoadOptions, answer = /^2\d\d$/): Promise<void> {
  const warm = await load(options);
  const answered = Object.entries(warm.statuses).filter(([status]) => answer.test(status));
  if (answered.reduce((sum, [, n]) => sum + n, 0) !== options.requests)
    throw new Error(`a server did not answer its warm-up: ${JSON.stringify(warm.statuses)}`);
}
