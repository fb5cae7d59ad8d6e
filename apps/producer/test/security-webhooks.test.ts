import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTlsServer, globalAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { UnrecoverableError, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isConveyorError } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { memoryLogger } from '../../../test/support/workers.js';
import { buildApp } from '../src/app.js';
import type { ErrorBody } from '../src/oip/schemas.js';
import {
  assertCallbackAllowed,
  isPublicAddress,
  type CallbackPolicy,
} from '../src/webhooks/allow.js';
import { createDeliveryProcessor } from '../src/webhooks/delivery.js';
import { testConfig, unusedClient } from './support.js';

const redisUrl = inject('redisUrl');
const SECRET = 'a-test-webhook-secret-0123456789';
/** SECRET as the config reads it. */
const SECRETS = [`whsec_${Buffer.from(SECRET).toString('base64')}`];
/** A self-signed certificate for the name `localhost` only, and its key. */
const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const closed: CallbackPolicy = { allowPrivate: false, allowedHosts: [] };

/** The code a rejected assertCallbackAllowed carries, or 'allowed'. */
async function verdict(url: string, policy: CallbackPolicy = closed): Promise<string> {
  try {
    await assertCallbackAllowed(url, policy);
    return 'allowed';
  } catch (error) {
    return isConveyorError(error) ? error.code : `untyped: ${String(error)}`;
  }
}

describe('isPublicAddress', () => {
  it.each([
    '127.0.0.1',
    '127.255.255.254',
    '10.0.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    'fe80::1',
    'febf::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.1.2.3',
    '::ffff:a9fe:a9fe',
    '64:ff9b::192.168.0.1',
    '::127.0.0.1',
    'fe80::1%eth0',
    'not an address',
    '',
  ])('refuses %s', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '192.169.0.1', '2606:4700::1111', '::ffff:8.8.8.8'])(
    'allows the public address %s',
    (address) => {
      expect(isPublicAddress(address)).toBe(true);
    },
  );
});

describe('assertCallbackAllowed', () => {
  it.each([
    'http://127.0.0.1:9/x',
    'http://localhost:9/x', // resolved with the real resolver: 127.0.0.1 and/or ::1
    'http://LOCALHOST./x',
    'http://2130706433/x', // 127.0.0.1 in decimal
    'http://0x7f.1/x', // hex and short forms
    'http://0177.0.0.1/x', // octal
    'http://[::1]:9/x',
    'http://[::ffff:127.0.0.1]/x',
    'http://[::ffff:a9fe:a9fe]/latest/meta-data', // 169.254.169.254, IPv4-mapped
    'http://169.254.169.254/latest/meta-data',
    'https://10.0.0.1/x',
    'http://user:pass@192.168.0.1/x',
    'http://0/x',
    'ftp://8.8.8.8/x',
    'file:///etc/passwd',
    'gopher://127.0.0.1:6379/_FLUSHALL',
    'not a url',
  ])('refuses %s with ERR_CALLBACK_NOT_ALLOWED', async (url) => {
    expect(await verdict(url)).toBe('ERR_CALLBACK_NOT_ALLOWED');
  });

  it('refuses a name when any one of its addresses is not public', async () => {
    const policy: CallbackPolicy = {
      ...closed,
      lookup: () => Promise.resolve([{ address: '8.8.8.8' }, { address: '10.0.0.5' }]),
    };
    expect(await verdict('https://hooks.example.com/x', policy)).toBe('ERR_CALLBACK_NOT_ALLOWED');
  });

  it('refuses a name that does not resolve, marked as unresolved', async () => {
    const policy: CallbackPolicy = {
      ...closed,
      lookup: () => Promise.reject(new Error('ENOTFOUND')),
    };
    await expect(assertCallbackAllowed('https://nowhere.invalid/x', policy)).rejects.toMatchObject({
      code: 'ERR_CALLBACK_NOT_ALLOWED',
      details: { reason: 'unresolved' },
    });
  });

  it('allows a public address, a listed host, and anything when private addresses are allowed', async () => {
    expect(await verdict('https://8.8.8.8/hook')).toBe('allowed');
    const publicName: CallbackPolicy = {
      ...closed,
      lookup: () => Promise.resolve([{ address: '93.184.216.34' }]),
    };
    expect(await verdict('https://hooks.example.com/x', publicName)).toBe('allowed');
    const listed: CallbackPolicy = { allowPrivate: false, allowedHosts: ['localhost', '::1'] };
    expect(await verdict('http://LocalHost:8080/x', listed)).toBe('allowed');
    expect(await verdict('http://[::1]:8080/x', listed)).toBe('allowed');
    expect(await verdict('http://127.0.0.1:8080/x', listed)).toBe('ERR_CALLBACK_NOT_ALLOWED');
    const open: CallbackPolicy = { allowPrivate: true, allowedHosts: [] };
    expect(await verdict('http://10.0.0.1/x', open)).toBe('allowed');
    expect(await verdict('ftp://10.0.0.1/x', open)).toBe('ERR_CALLBACK_NOT_ALLOWED');
  });
});

/** A receiver on loopback that counts requests and answers `status` (and a Location). */
async function startReceiver(status: number) {
  const received: IncomingMessage[] = [];
  const server: Server = createServer((request, response) => {
    received.push(request);
    request.resume();
    response.writeHead(status, { location: 'http://127.0.0.1:1/inner' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A delivery job as the callbacks worker hands it to the processor. */
const deliveryJob = (url: string) =>
  ({
    id: 'd1',
    attemptsMade: 0,
    data: { v: 1, url, job_id: 'iris~x', delivery_id: 'dlv-1', body: '{"status":"completed"}' },
  }) as unknown as Job;

describe('webhook delivery: checked again before each POST, no redirects', () => {
  const { logger } = memoryLogger('producer');
  const base = testConfig(redisUrl, uniquePrefix(), { WEBHOOK_TIMEOUT_MS: '5000' });

  it('does not POST to a loopback receiver unless its host is allowed', async () => {
    const receiver = await startReceiver(200);
    try {
      const refuse = createDeliveryProcessor(base, SECRETS, logger);
      await expect(refuse(deliveryJob(`${receiver.url}/hook`))).rejects.toBeInstanceOf(
        UnrecoverableError,
      );
      expect(receiver.received).toHaveLength(0);
      const allowed = { ...base, WEBHOOK_ALLOWED_HOSTS: ['127.0.0.1'] as const };
      const deliver = createDeliveryProcessor(allowed, SECRETS, logger);
      await expect(deliver(deliveryJob(`${receiver.url}/hook`))).resolves.toEqual({ status: 200 });
      expect(receiver.received).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });

  it('connects only to the addresses it checked: a name that rebinds to loopback after the check is refused', async () => {
    const receiver = await startReceiver(200);
    const port = new URL(receiver.url).port;
    try {
      // The first answer (the check before the POST) is public; every later one is loopback.
      let calls = 0;
      const rebinding = () =>
        Promise.resolve([{ address: calls++ === 0 ? '93.184.216.34' : '127.0.0.1' }]);
      const deliver = createDeliveryProcessor(base, SECRETS, logger, rebinding);
      await expect(deliver(deliveryJob(`http://rebind.test:${port}/hook`))).rejects.toBeInstanceOf(
        UnrecoverableError,
      );
      expect(calls).toBe(2);
      expect(receiver.received).toHaveLength(0);

      // The connection does use this resolver: an allowed name that only it knows is delivered.
      const allowed = { ...base, WEBHOOK_ALLOWED_HOSTS: ['rebind.test'] as const };
      const loopback = () => Promise.resolve([{ address: '127.0.0.1' }]);
      const delivered = createDeliveryProcessor(allowed, SECRETS, logger, loopback);
      await expect(delivered(deliveryJob(`http://rebind.test:${port}/hook`))).resolves.toEqual({
        status: 200,
      });
      expect(receiver.received).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });

  it('treats a redirect as a final failure and does not follow it', async () => {
    const receiver = await startReceiver(307);
    try {
      const config = { ...base, WEBHOOK_ALLOWED_HOSTS: ['127.0.0.1'] as const };
      const deliver = createDeliveryProcessor(config, SECRETS, logger);
      await expect(deliver(deliveryJob(`${receiver.url}/hook`))).rejects.toBeInstanceOf(
        UnrecoverableError,
      );
      expect(receiver.received).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });
});

describe('webhook delivery failures in the log', () => {
  const base = testConfig(redisUrl, uniquePrefix(), {
    WEBHOOK_TIMEOUT_MS: '5000',
    WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
  });

  it('logs a TLS failure by code and message, without the peer certificate', async () => {
    const cert = fixture('receiver-cert.pem');
    const server = createTlsServer({ cert, key: fixture('receiver-key.pem') }, (_, response) =>
      response.end('{}'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    // Trusted, the certificate fails only the name check (it names localhost, not 127.0.0.1),
    // whose error carries the whole peer certificate as `cert`.
    const ca = globalAgent.options.ca;
    globalAgent.options.ca = cert;
    try {
      const { logger, records } = memoryLogger('producer');
      const deliver = createDeliveryProcessor(base, SECRETS, logger);
      await expect(deliver(deliveryJob(`https://127.0.0.1:${port}/hook`))).rejects.toThrow(
        /network error/,
      );
      const failed = records.filter((r) => r.msg === 'webhook delivery failed');
      expect(failed).toHaveLength(1);
      expect(failed[0]?.error).toEqual({
        code: 'ERR_TLS_CERT_ALTNAME_INVALID',
        message: expect.stringContaining('127.0.0.1') as string,
      });
      expect(failed[0]).not.toHaveProperty('err');
      expect(JSON.stringify(failed[0]).length).toBeLessThan(1000);
    } finally {
      globalAgent.options.ca = ca;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('webhooks at submit: a job with a private callback_url is refused', () => {
  const prefix = uniquePrefix();
  const config = testConfig(redisUrl, prefix, { WEBHOOK_SECRET: SECRET });
  const app = buildApp(config, {
    client: unusedClient(),
    redisPing: () => Promise.resolve(true),
    logger: memoryLogger('producer').logger,
  });
  beforeAll(() => app.ready());
  afterAll(async () => {
    await app.close();
    await dropPrefix(redisUrl, prefix);
  });

  it.each([
    ['/v1/models/iris/jobs', 'http://127.0.0.1:9/x'],
    ['/v1/models/iris/jobs', 'http://localhost/x'],
    ['/v1/models/iris/jobs', 'http://[::ffff:169.254.169.254]/x'],
    ['/v1/models/iris/jobs:batch', 'http://10.1.2.3/x'],
  ])('%s with %s: 400 ERR_CALLBACK_NOT_ALLOWED before anything is enqueued', async (url, cb) => {
    const inputs = { features: { shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] } };
    const payload = url.endsWith(':batch')
      ? { items: [{ inputs }], parameters: { callback_url: cb } }
      : { inputs, parameters: { callback_url: cb } };
    const response = await app.inject({ method: 'POST', url, payload });
    expect(response.statusCode).toBe(400);
    expect(response.json<ErrorBody>().code).toBe('ERR_CALLBACK_NOT_ALLOWED');
  });
});
