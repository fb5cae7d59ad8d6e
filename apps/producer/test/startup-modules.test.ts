import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../../scripts/lib/redis-server.js';
import { ROOT, appArgs, serviceEnv } from '../../../scripts/lib/worker-process.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';

/**
 * What a producer loads at start: only what its configuration uses. The engine (onnxruntime and
 * sharp's native libraries) waits for a model upload, gRPC for GRPC_PORT, the OpenTelemetry SDK
 * and @fastify/otel for TRACING=otlp. A real producer process, from its sources; a preloaded
 * script names its CommonJS modules on SIGUSR2, and /proc names its native libraries.
 */
const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
let dir: string;
let preload: string;

const PRELOAD = `process.on('SIGUSR2', () => {
  process.stderr.write('MODULES ' + JSON.stringify(Object.keys(require.cache)) + '\\n');
});`;

interface Loaded {
  modules: string[];
  libraries: string[];
}

/** Starts a producer with `env`, reads what it has loaded once it is ready, and stops it. */
async function loadedBy(env: Record<string, string>): Promise<Loaded> {
  const child = spawn(process.execPath, ['--require', preload, ...appArgs('producer', 'sources')], {
    cwd: ROOT,
    env: serviceEnv(redisUrl, prefix, {
      PRODUCER_HOST: '127.0.0.1',
      PRODUCER_PORT: '0',
      LOG_LEVEL: 'info',
      ...env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    for await (const line of createInterface({ input: child.stdout })) {
      if (line.includes('"producer ready"')) break;
    }
    const answer = (async () => {
      for await (const line of createInterface({ input: child.stderr })) {
        if (line.startsWith('MODULES ')) return JSON.parse(line.slice(8)) as string[];
      }
      throw new Error('the producer ended without naming its modules');
    })();
    child.kill('SIGUSR2');
    const modules = await answer;
    const maps = await readFile(`/proc/${child.pid}/maps`, 'utf8');
    const libraries = [...new Set(maps.split('\n').map((l) => l.split(/\s+/)[5] ?? ''))];
    return { modules, libraries };
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  }
}

const named = (paths: readonly string[], pattern: RegExp) => paths.filter((p) => pattern.test(p));
const ENGINE = /onnxruntime|sharp|libvips/;
const GRPC = /@grpc\+grpc-js/;
const OTEL_SDK = /@opentelemetry\+sdk-trace|@fastify\+otel|@opentelemetry\+exporter-trace/;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'conveyor-startup-'));
  preload = join(dir, 'name-modules.cjs');
  await writeFile(preload, PRELOAD);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await dropPrefix(redisUrl, prefix);
});

describe('a producer at start', () => {
  it('loads neither the engine, gRPC nor the OpenTelemetry SDK when nothing asks for them', async () => {
    const { modules, libraries } = await loadedBy({});
    expect(modules.length).toBeGreaterThan(100);
    expect(named(libraries, ENGINE)).toEqual([]);
    expect(named(modules, ENGINE)).toEqual([]);
    expect(named(modules, GRPC)).toEqual([]);
    expect(named(modules, OTEL_SDK)).toEqual([]);
  });

  it('loads gRPC with GRPC_PORT, and the OpenTelemetry SDK with TRACING=otlp', async () => {
    const collector = await freePort();
    const { modules } = await loadedBy({
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      TRACING: 'otlp',
      // Loopback only; nothing is traced, so nothing is sent.
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector}`,
    });
    expect(named(modules, GRPC)).not.toEqual([]);
    expect(named(modules, OTEL_SDK)).not.toEqual([]);
  });
});
