/**
 * The Docker image, rehearsed without a Docker engine (none runs here): the runtime stage's folder
 * laid out as the Dockerfile lays it out, outside the repository, then the worker and the producer
 * started in it with the commands docker-compose.yml gives them, its healthchecks run against them,
 * and one prediction through the producer's HTTP API. The steps are read from the Dockerfile: the
 * manifests its `pnpm` stage copies, its `deps` stage's RUN (production dependencies, other
 * platforms' onnxruntime binaries removed) run as written, its runtime stage's ENV and `COPY
 * --from=build`, taken from this checkout's build. What it catches: a package the apps import at
 * run time that is a dev dependency only, a file the image leaves out (a .proto, a model), a path
 * that holds only inside the workspace.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { freePort, startRedisServer, type RedisHandle } from '../scripts/lib/redis-server.js';
import { ROOT } from '../scripts/lib/worker-process.js';
import { startApp, type AppProcess } from './chaos/support.js';
import { uniquePrefix } from './support/prefix.js';

const run = promisify(execFile);

/** One stage of a Dockerfile: its name and its instructions, continuation lines joined. */
interface Stage {
  name: string;
  instructions: string[];
}

/** The stages of a Dockerfile, comments dropped and `\` continuations joined. */
function dockerStages(text: string): Stage[] {
  const joined = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  const stages: Stage[] = [];
  for (const line of joined.split('\n').map((l) => l.trim().replace(/\s+/g, ' '))) {
    if (line === '') continue;
    const from = /^FROM \S+ AS (\S+)$/.exec(line);
    if (from) stages.push({ name: from[1]!, instructions: [] });
    else stages.at(-1)?.instructions.push(line);
  }
  return stages;
}

const stage = (stages: Stage[], name: string): Stage => {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`the Dockerfile has no stage ${name}`);
  return found;
};

/** The arguments of `COPY`, its `--flags` apart. */
const copyArgs = (instruction: string) => {
  const words = instruction.split(' ').slice(1);
  return {
    flags: words.filter((w) => w.startsWith('--')),
    paths: words.filter((w) => !w.startsWith('--')),
  };
};

/** Copies `from` (a file or a folder) to `dest` in `app`, a folder when `dest` ends with `/`. */
function copyInto(app: string, from: string, dest: string): void {
  const target = dest.endsWith('/') ? join(app, dest, basename(from)) : join(app, dest);
  cpSync(from, target, { recursive: true });
}

const instructions = (stages: Stage[], name: string, verb: string): string[] =>
  stage(stages, name).instructions.filter((i) => i.startsWith(`${verb} `));

/** The `pnpm` stage's manifests, then the `deps` stage's install, run as written, in `app`. */
async function installDependencies(stages: Stage[], app: string): Promise<void> {
  for (const instruction of instructions(stages, 'pnpm', 'COPY')) {
    const { paths } = copyArgs(instruction);
    const dest = paths.at(-1) ?? '';
    for (const from of paths.slice(0, -1)) copyInto(app, join(ROOT, from), dest);
  }
  // pnpm from this machine, its store and its settings: nothing from the workspace's run.
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, npm_config_prefer_offline: 'true' };
  for (const instruction of instructions(stages, 'deps', 'RUN'))
    await run('sh', ['-c', instruction.slice('RUN '.length)], { cwd: app, env, timeout: 300_000 });
}

/** The image's /app, built in `app`: returns the environment its runtime stage's ENV sets. */
async function layOutImage(app: string): Promise<Record<string, string>> {
  const stages = dockerStages(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  await installDependencies(stages, app);
  for (const instruction of instructions(stages, 'runtime', 'COPY')) {
    const { flags, paths } = copyArgs(instruction);
    const [from, dest] = paths as [string, string];
    if (flags.includes('--from=deps')) expect(from).toBe('/app');
    else if (flags.includes('--from=build'))
      copyInto(app, join(ROOT, from.replace(/^\/app\//, '')), dest);
    else throw new Error(`an unexpected COPY in the runtime stage: ${instruction}`);
  }
  const settings: Record<string, string> = {};
  for (const instruction of instructions(stages, 'runtime', 'ENV'))
    for (const pair of instruction.slice('ENV '.length).split(' ')) {
      const [key, value] = pair.split('=') as [string, string];
      settings[key] = value.replace(/^\/app(?=\/|$)/, app);
    }
  return settings;
}

interface ComposeService {
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test?: string[] };
}

/**
 * What docker-compose.yml gives a service: the entry point its `node` command starts, and its
 * healthcheck's script with the port it listens on in compose (`portKey`) put in its place.
 */
function composeService(name: 'producer' | 'worker', portKey: string) {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), {
    merge: true,
  }) as { services: Record<string, ComposeService> };
  const service = compose.services[name] ?? {};
  const [node, entry] = service.command ?? [];
  expect(node).toBe('node');
  const [kind, program, flag, script] = service.healthcheck?.test ?? [];
  expect([kind, program, flag]).toEqual(['CMD', 'node', '-e']);
  const port = service.environment?.[portKey];
  expect(port).toMatch(/^\d+$/);
  return {
    entry: entry ?? '',
    healthcheck: (listening: string) => (script ?? '').replaceAll(`:${port}/`, `:${listening}/`),
  };
}

describe('the Docker image, laid out by its Dockerfile without a Docker engine', () => {
  const prefix = uniquePrefix();
  let app: string;
  let settings: Record<string, string>;
  let redis: RedisHandle;
  const started: AppProcess[] = [];

  beforeAll(async () => {
    app = mkdtempSync(join(tmpdir(), 'conveyor-image-'));
    settings = await layOutImage(app);
    redis = await startRedisServer();
  }, 360_000);

  afterAll(async () => {
    for (const service of started) await service.stop();
    await redis?.stop();
    if (app) rmSync(app, { recursive: true, force: true });
  });

  it('installs production dependencies only, and onnxruntime for this platform only', async () => {
    // Dev dependencies of the root (the test runner, tsx) are not in the image.
    const installed = readdirSync(join(app, 'node_modules', '.pnpm'));
    expect(installed.some((name) => name.startsWith('fastify@'))).toBe(true);
    expect(installed.filter((name) => /^(vitest|tsx)@/.test(name))).toEqual([]);
    const { stdout } = await run('find', [app, '-name', 'onnxruntime_binding.node']);
    const bindings = stdout.trim().split('\n');
    expect(bindings).toHaveLength(1);
    expect(bindings[0]).toContain(`/linux/${process.arch}/`);
  });

  it('starts the worker and the producer as compose does, healthy, and answers a prediction', async () => {
    expect(settings.NODE_ENV).toBe('production');
    const ports = { http: String(await freePort()), health: String(await freePort()) };
    const env = { ...settings, GRPC_PORT: String(await freePort()) };
    const services = {
      worker: composeService('worker', 'WORKER_HTTP_PORT'),
      producer: composeService('producer', 'PRODUCER_PORT'),
    };
    const worker = startApp(
      'worker',
      redis.url,
      prefix,
      { ...env, MODELS: 'iris', WORKER_HTTP_PORT: ports.health },
      app,
    );
    started.push(worker);
    expect(worker.child.spawnargs.at(-1)).toBe(join(app, services.worker.entry));
    await worker.logged('worker ready');
    const producer = startApp(
      'producer',
      redis.url,
      prefix,
      { ...env, PRODUCER_PORT: ports.http },
      app,
    );
    started.push(producer);
    expect(producer.child.spawnargs.at(-1)).toBe(join(app, services.producer.entry));
    await producer.logged('producer ready');
    // Compose's healthchecks, run as Docker runs them (exit 0: healthy).
    await run(process.execPath, ['-e', services.worker.healthcheck(ports.health)], { cwd: app });
    await run(process.execPath, ['-e', services.producer.healthcheck(ports.http)], { cwd: app });

    const response = await fetch(`http://127.0.0.1:${ports.http}/v2/models/iris/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
      }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { outputs: { name: string; data: number[] }[] };
    const probabilities = body.outputs.find((o) => o.name === 'probabilities');
    expect(probabilities?.data).toHaveLength(3);
    expect(probabilities!.data.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
  });
});
