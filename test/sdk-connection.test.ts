import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { freePort, startRedisServer } from '../scripts/lib/redis-server.js';
import { uniquePrefix } from './support/prefix.js';
import { startInProcessWorker } from './support/workers.js';

const ROW = { features: [[5.1, 3.5, 1.4, 0.2]] };

/** Predicts once and closes: the client's main and listener connections both had to work. */
async function roundTrip(client: ConveyorClient): Promise<number[]> {
  try {
    const { outputs } = await client.predict('iris', ROW, { timeoutMs: 10_000 });
    return [...(outputs.probabilities!.data as Float32Array)];
  } finally {
    await client.close();
  }
}

describe('a Redis that needs a password', () => {
  const password = 'open-sesame';
  let server: Awaited<ReturnType<typeof startRedisServer>>;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  const prefix = uniquePrefix();
  let port: number;

  beforeAll(async () => {
    server = await startRedisServer();
    port = server.port;
    const admin = new Redis(server.url);
    await admin.config('SET', 'requirepass', password);
    admin.disconnect();
    worker = await startInProcessWorker(`redis://:${password}@127.0.0.1:${port}`, prefix);
  }, 60_000);
  afterAll(async () => {
    await worker?.close();
    await server?.stop();
  });

  it('is refused without the password, or with a wrong one, as ERR_QUEUE_UNAVAILABLE', async () => {
    await expect(
      createClient({ redisUrl: `redis://127.0.0.1:${port}`, prefix }),
    ).rejects.toMatchObject({
      code: 'ERR_QUEUE_UNAVAILABLE',
    });
    await expect(
      createClient({ redisUrl: `redis://127.0.0.1:${port}`, password: 'wrong', prefix }),
    ).rejects.toMatchObject({ code: 'ERR_QUEUE_UNAVAILABLE' });
  });

  it('predicts with the password in the URL', async () => {
    const client = await createClient({
      redisUrl: `redis://:${password}@127.0.0.1:${port}`,
      prefix,
    });
    expect(await roundTrip(client)).toHaveLength(3);
  });

  it('predicts with the password option, which overrides the URL', async () => {
    const client = await createClient({
      redisUrl: `redis://:wrong@127.0.0.1:${port}`,
      password,
      prefix,
    });
    expect(await roundTrip(client)).toHaveLength(3);
  });
});

describe('a Redis behind TLS', () => {
  let server: Awaited<ReturnType<typeof startRedisServer>>;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let dir: string;
  let ca: Buffer;
  let tlsPort: number;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'conveyor-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    ca = readFileSync(join(dir, 'cert.pem'));
    tlsPort = await freePort();
    // The plain port serves the worker; the client speaks TLS to the same server.
    server = await startRedisServer({
      args: [
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        join(dir, 'cert.pem'),
        '--tls-key-file',
        join(dir, 'key.pem'),
        '--tls-ca-cert-file',
        join(dir, 'cert.pem'),
        '--tls-auth-clients',
        'no',
      ],
    });
    worker = await startInProcessWorker(server.url, prefix);
  }, 60_000);
  afterAll(async () => {
    await worker?.close();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('predicts over rediss:// with the server certificate passed as the tls option', async () => {
    const client = await createClient({
      redisUrl: `rediss://localhost:${tlsPort}`,
      tls: { ca },
      prefix,
    });
    expect(await roundTrip(client)).toHaveLength(3);
  });

  it('turns TLS on with tls: true for a redis:// URL, and checks the certificate', async () => {
    // A self-signed certificate that is not passed as ca is refused.
    await expect(
      createClient({ redisUrl: `redis://localhost:${tlsPort}`, tls: true, prefix }),
    ).rejects.toMatchObject({ code: 'ERR_QUEUE_UNAVAILABLE' });
  });

  it('refuses option values of the wrong kind with ERR_VALIDATION', async () => {
    await expect(createClient({ tls: 'yes' as never })).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
    });
    await expect(createClient({ redisUrl: 'http://127.0.0.1:6379' })).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
    });
    await expect(createClient({ redisUrl: 'redis://127.0.0.1:6379/x' })).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
    });
  });
});
