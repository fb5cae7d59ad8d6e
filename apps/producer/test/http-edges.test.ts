import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConveyorError } from '@conveyor/shared';
import { uniquePrefix } from '../../../test/support/prefix.js';
import { memoryLogger } from '../../../test/support/workers.js';
import { buildApp } from '../src/app.js';
import type { ErrorBody } from '../src/oip/schemas.js';
import { testConfig, unusedClient } from './support.js';

const config = testConfig(inject('redisUrl'), uniquePrefix());

describe('HTTP edges on a real socket', () => {
  // At debug: `incoming request` tells that the producer has the request.
  const { logger, records } = memoryLogger('producer', 'debug');
  const app = buildApp(config, {
    client: unusedClient(),
    redisPing: () => Promise.resolve(true),
    logger,
  });
  let port = 0;

  beforeAll(async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });
  afterAll(() => app.close());

  /** One GET on `agent`, resolved with the response once its body is read. */
  const get = (agent: Agent, headers: Record<string, string> = {}) =>
    new Promise<{ response: IncomingMessage; body: string }>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/v2/health/live', agent, headers },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () => resolve({ response, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });

  it('closes the connection after a 431, so a keep-alive client sends its next request on a new one', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect((await get(agent)).response.statusCode).toBe(200);
      const huge = await get(agent, { 'x-padding': 'a'.repeat(32 * 1024) });
      expect(huge.response.statusCode).toBe(431);
      expect(huge.response.headers.connection).toBe('close');
      // Sent at once on the same agent: a reused, reset socket would fail it with ECONNRESET.
      expect((await get(agent)).response.statusCode).toBe(200);
    } finally {
      agent.destroy();
    }
  });

  it('ignores unknown preferences in a Prefer header of 8 KB, as the docs say', async () => {
    const prefer = Array.from({ length: 800 }, (_, i) => `x-unknown-${i}=1`).join(', ');
    expect(prefer.length).toBeGreaterThan(8 * 1024);
    const notFound = new ConveyorError('ERR_MODEL_NOT_FOUND', 'no model iris');
    const inferApp = buildApp(config, {
      client: unusedClient({ predict: () => Promise.reject(notFound) }),
      redisPing: () => Promise.resolve(true),
      logger,
    });
    try {
      const response = await inferApp.inject({
        method: 'POST',
        url: '/v2/models/iris/infer',
        headers: { prefer },
        payload: {
          inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
        },
      });
      // The request went on to predict (the client's answer), not refused at the header.
      expect(response.json<ErrorBody>().code).toBe('ERR_MODEL_NOT_FOUND');
      expect(response.headers['preference-applied']).toBeUndefined();
    } finally {
      await inferApp.close();
    }
  });

  it('logs a client that hangs up mid-body at info, without a stack', async () => {
    const before = records.length;
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      'POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n' +
        'content-length: 1000\r\n\r\n{"inputs":',
    );
    // Let the producer start reading the body, then hang up.
    await expect
      .poll(() => records.slice(before).some((r) => r.msg === 'incoming request'))
      .toBe(true);
    socket.destroy();
    // The producer notices the hang-up with the body half read.
    const after = () => records.slice(before).filter((r) => r.msg !== 'incoming request');
    await expect.poll(() => after().length).toBeGreaterThan(0);
    const lines = records.slice(before);
    expect(lines.filter((r) => (r.level as number) >= 40)).toEqual([]);
    const aborted = lines.find((r) => r.msg === 'client closed the request');
    expect(aborted).toMatchObject({ level: 30, code: 'ECONNRESET' });
    expect(JSON.stringify(aborted)).not.toContain('stack');
  });

  it('logs a client that hangs up while its infer waits at info, without a stack', async () => {
    const { logger: waitLogger, records: waitRecords } = memoryLogger('producer', 'debug');
    let release: (error: unknown) => void = () => undefined;
    const waiting = new Promise<never>((_, reject) => (release = reject));
    let predicting = false;
    const waitApp = buildApp(config, {
      client: unusedClient({
        predict: () => {
          predicting = true;
          return waiting;
        },
      }),
      redisPing: () => Promise.resolve(true),
      logger: waitLogger,
    });
    await waitApp.listen({ host: '127.0.0.1', port: 0 });
    let closed = 0;
    waitApp.server.on('connection', (socket) => socket.on('close', () => (closed += 1)));
    try {
      const { port: waitPort } = waitApp.server.address() as AddressInfo;
      const controller = new AbortController();
      const sent = fetch(`http://127.0.0.1:${waitPort}/v2/models/iris/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
        }),
        signal: controller.signal,
      });
      // The infer waits once it has called predict: before that (a loaded machine), the wait's
      // rejection below would have no handler yet.
      await expect.poll(() => predicting).toBe(true);
      controller.abort();
      await expect(sent).rejects.toThrow();
      await expect.poll(() => closed).toBe(1);
      release(new ConveyorError('ERR_JOB_TIMEOUT', 'no result in time'));
      await expect
        .poll(() =>
          waitRecords.filter((r) => r.reqId !== undefined && r.msg !== 'incoming request'),
        )
        .toEqual([
          expect.objectContaining({
            level: 30,
            code: 'ERR_JOB_TIMEOUT',
            msg: 'client closed the request',
          }),
        ]);
    } finally {
      await waitApp.close();
    }
  });
});
