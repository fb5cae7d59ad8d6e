import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PUBLISHED,
  ROOT,
  buildPackages,
  packPackage,
  type PublishedName,
} from '../scripts/lib/pack.js';
import { startRedisServer } from '../scripts/lib/redis-server.js';
import { MODELS, startInProcessWorker } from './support/workers.js';

const run = promisify(execFile);

/** The README block that follows the marker naming this test: the application's index.mjs. */
function readmeApplication(): string {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n');
  const marker = lines.findIndex((line) => line.startsWith('<!-- test/packed-packages.test.ts'));
  const open = lines.findIndex((line, i) => i > marker && line.startsWith('```'));
  const close = lines.findIndex((line, i) => i > open && line === '```');
  expect(marker, 'README.md has no block marked for test/packed-packages.test.ts').toBeGreaterThan(
    -1,
  );
  expect(lines[open]).toBe('```js');
  return lines.slice(open + 1, close).join('\n') + '\n';
}

/**
 * The environment of a process of the application: this machine's, without what pnpm, vitest
 * or tsx put there (no conditions, no loaders, no npm settings of the workspace).
 */
function applicationEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => !/^(npm_|pnpm_|NODE_OPTIONS$|NODE_PATH$|VITEST|TSX_)/i.test(key),
    ),
  );
  return { ...env, ...extra };
}

/** `node <file>` in the application, as its developer would run it. */
async function node(app: string, file: string, env: Record<string, string> = {}) {
  return run(process.execPath, [file], {
    cwd: app,
    env: applicationEnv(env),
    timeout: 60_000,
  });
}

/** One `console.log(jobId, probabilities)` line of the README example, read back. */
function prediction(line: string | undefined): { jobId: string; probabilities: number[] } {
  const match = /^(iris\.1\.\S+) \[ ('\d\.\d{3}'(?:, '\d\.\d{3}'){2}) \]$/.exec(line ?? '');
  expect(match, `not a prediction line: ${line}`).not.toBeNull();
  return {
    jobId: match![1]!,
    probabilities: match![2]!.split(', ').map((p) => Number(p.slice(1, -1))),
  };
}

const argmax = (values: number[]) => values.indexOf(Math.max(...values));

let work: string;
const tarballs = new Map<PublishedName, string>();

// One build, and every published package packed as `pnpm publish` would, for both applications.
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'conveyor-packed-'));
  buildPackages();
  for (const name of Object.keys(PUBLISHED) as PublishedName[])
    tarballs.set(name, packPackage(name, work));
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * A new application in the temp folder, outside the workspace (an ES module, as the README says),
 * with the tarballs of `packages` installed by npm; third-party dependencies come from the npm
 * registry. Install scripts are not run: onnxruntime-node's would download GPU binaries.
 */
async function createApplication(name: string, packages: PublishedName[]): Promise<string> {
  const app = join(work, name);
  await mkdir(app);
  await writeFile(
    join(app, 'package.json'),
    JSON.stringify({ name, private: true, type: 'module' }, null, 2),
  );
  const files = packages.map((p) => tarballs.get(p)!);
  // --prefer-offline: packages already in npm's cache are not asked of the registry again (an
  // install took 35 s without it, 17 s with it, on this machine's second run).
  await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', ...files],
    {
      cwd: app,
      env: applicationEnv(),
      timeout: 300_000,
    },
  );
  return app;
}

// Packs the SDK as published, installs it with npm into an application outside the workspace,
// and runs the README's example there with plain node against a worker serving iris.
describe('the packed SDK in an application outside the repository', () => {
  let app: string;
  let server: Awaited<ReturnType<typeof startRedisServer>>;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;

  beforeAll(async () => {
    // A Redis of its own: the application uses the default key prefix, as a real one would.
    server = await startRedisServer();
    worker = await startInProcessWorker(server.url, 'conveyor');
    app = await createApplication('readme-app', ['@conveyor/shared', '@conveyor/sdk']);
  }, 600_000);

  afterAll(async () => {
    await worker?.close();
    await server?.stop();
  });

  it('installs the queue client without the engine or onnxruntime', async () => {
    expect((await readdir(join(app, 'node_modules', '@conveyor'))).sort()).toEqual([
      'sdk',
      'shared',
    ]);
    // npm's lockfile lists every package it installed, at any depth, by its folder.
    const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, unknown>;
    };
    const installed = Object.keys(lock.packages);
    expect(installed).toContain('node_modules/bullmq');
    expect(installed.filter((path) => /onnxruntime|@conveyor\/engine/.test(path))).toEqual([]);
    expect(existsSync(join(app, 'node_modules', 'onnxruntime-node'))).toBe(false);
    // The SDK traces through @opentelemetry/api alone: an application gets no OpenTelemetry SDK.
    expect(
      installed.filter((path) => /@opentelemetry\/(?!api$)|@conveyor\/telemetry/.test(path)),
    ).toEqual([]);
  });

  it("runs the README's example with plain node against a worker", async () => {
    await writeFile(join(app, 'index.mjs'), readmeApplication());
    const { stdout } = await node(app, 'index.mjs', { REDIS_URL: server.url });
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    const [first, later] = lines.map(prediction);
    for (const { probabilities } of [first!, later!]) {
      expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 2);
    }
    expect(argmax(first!.probabilities)).toBe(0); // setosa
    expect(argmax(later!.probabilities)).toBe(2); // virginica
    expect(later!.jobId).not.toBe(first!.jobId);
  });

  it('type-checks the example as TypeScript against the packed declarations', async () => {
    await writeFile(join(app, 'index.ts'), readmeApplication());
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          // @types/node, which any TypeScript application on Node has, from the workspace.
          typeRoots: [join(ROOT, 'node_modules', '@types')],
          types: ['node'],
        },
        files: ['index.ts'],
      }),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    await expect(node(app, tsc)).resolves.toMatchObject({ stdout: '' });
  });

  it('the embedded entry says to install the engine when it is not', async () => {
    await writeFile(
      join(app, 'embedded.mjs'),
      `import { createEmbeddedClient } from '@conveyor/sdk/embedded';
try {
  await createEmbeddedClient({ repository: ${JSON.stringify(MODELS)} });
} catch (error) {
  console.log(JSON.stringify({ code: error.code, message: error.message }));
}
`,
    );
    const { stdout } = await node(app, 'embedded.mjs');
    const failure = JSON.parse(stdout) as { code: string; message: string };
    expect(failure.code).toBe('ERR_CONFIG_INVALID');
    expect(failure.message).toContain('npm i @conveyor/engine');
  });
});

describe('the packed CLI installed in a folder outside the repository', () => {
  let app: string;
  const conveyor = (...args: string[]) =>
    // The bin npm linked, run through its shebang, as `npx conveyor` does.
    run(join(app, 'node_modules', '.bin', 'conveyor'), args, {
      cwd: app,
      env: applicationEnv(),
      timeout: 120_000,
    });

  beforeAll(async () => {
    app = await createApplication('cli-app', Object.keys(PUBLISHED) as PublishedName[]);
  }, 600_000);

  it('has a conveyor bin that prints the version of the package', async () => {
    const { version } = JSON.parse(
      readFileSync(join(app, 'node_modules', '@conveyor', 'cli', 'package.json'), 'utf8'),
    ) as { version: string };
    const { stdout } = await conveyor('--version');
    expect(stdout.trim()).toBe(version);
  });

  it('loads the models with the installed engine and onnxruntime', async () => {
    const { stdout } = await conveyor('models', 'list', '--repository', MODELS, '--json');
    const listed = JSON.parse(stdout) as { models: { name: string; version: string }[] };
    expect(listed.models.map((m) => `${m.name}@${m.version}`).sort()).toEqual([
      'iris@1',
      'ocr@1',
      'sentiment@1',
      // '-' sorts before '@'.
      'text-direction-image@1',
      'text-direction@1',
    ]);
  });
});
