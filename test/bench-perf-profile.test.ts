import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  countOwners,
  perfAvailable,
  perfCwd,
  profileEnv,
  profiled,
  removePerfDir,
  removePerfFiles,
} from '../scripts/bench/perf-profile.js';

/** `perf script -F tid,ip,sym,dso` output, one sample per block, leaf first. */
const SCRIPT = `1201 
\t ffffffff8a2b3c4d tcp_sendmsg ([kernel.kallsyms])
\t         1508083 Builtins_CallFunction (/usr/bin/node)
\t    7faee4776131 JS:*writevGeneric node:internal/stream_base_commons:122:25 (/tmp/perf-1201.map)
\t    7faee4776200 JS:*execute /w/node_modules/.pnpm/ioredis@6.1.0_supports-color@7.2.0/node_modules/ioredis/built/Script.js:37:12 (/tmp/perf-1201.map)
\t    7faee4776300 JS:^addJobs file:///w/packages/sdk/dist/queue/add-jobs.js:109:30 (/tmp/perf-1201.map)

1201 
\t          c4993d v8::internal::JsonParser<unsigned char>::ParseJsonValue (/usr/bin/node)
\t    7faee47bc8b3 JS:* file:///w/apps/producer/dist/oip/infer.js:72:73 (/tmp/perf-1201.map)

1201 
\t         14aca14 uv_run (/usr/bin/node)
\t          7bbbe6 node::SpinEventLoopInternal (/usr/bin/node)

1202 
\t    7f0000001000 MlasSgemmKernel (/w/node_modules/.pnpm/onnxruntime-node@1.20.0/node_modules/onnxruntime-node/bin/libonnxruntime.so.1)

1201 
\t    7faee4700000 JS:*onSend /w/node_modules/.pnpm/@fastify+compress@9.2.0/node_modules/@fastify/compress/index.js:331:19 (/tmp/perf-1201.map)

1201 
\t    7faee4700100 JS:*observe /w/node_modules/.pnpm/prom-client@15.1.3/node_modules/prom-client/lib/histogram.js:232:9 (/tmp/perf-1201.map)

1201 
\t    7faee4700200 JS:*parse /w/node_modules/.pnpm/@scope+thing@1.0.0/node_modules/@scope/thing/a.js:1:1 (/tmp/perf-1201.map)

1201 
\t    7faee4700300 JS:*enqueue /w/scripts/bench/bare-server.ts:60:1 (/tmp/perf-1201.map)

1201 
\t ffffffff8a2b3c4d tcp_sendmsg ([kernel.kallsyms])
\t    7faee4700400 JS:*corkingWrite file:///w/packages/shared/dist/redis-write-batching.js:8:26 (/tmp/perf-1201.map)
\t    7faee4700500 JS:^addJobs file:///w/packages/sdk/dist/queue/add-jobs.js:109:30 (/tmp/perf-1201.map)
`;

describe('the bench profile by owner', () => {
  it('charges each sample to the nearest JavaScript frame outside Node, else to its library', async () => {
    const { owners, libraries } = await countOwners(Readable.from(SCRIPT.split('\n')));
    expect(Object.fromEntries(libraries)).toEqual({ '@scope+thing': 1 });
    expect(owners).toEqual({
      conveyor: 1,
      fastify: 1,
      bullmq: 0,
      // One through Conveyor's per-turn write batching, which only passes ioredis's writes on.
      ioredis: 2,
      observability: 1,
      zod: 0,
      onnxruntime: 1,
      bench: 1,
      otherLibraries: 1,
      node: 1,
    });
  });

  describe('on a real process under perf', () => {
    let dir = '';
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'bench-perf-'));
      // A library as pnpm lays it out, and an app of ours calling it: each spins half the time.
      const lib = join(dir, 'node_modules', '.pnpm', 'zod@3.0.0', 'node_modules', 'zod');
      await mkdir(lib, { recursive: true });
      await writeFile(
        join(lib, 'spin.cjs'),
        'exports.spin = (ms) => { const end = Date.now() + ms; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1); return x; };\n',
      );
      const app = join(dir, 'apps', 'demo', 'dist');
      await mkdir(app, { recursive: true });
      await writeFile(
        join(app, 'main.cjs'),
        `const { spin } = require(${JSON.stringify(join(lib, 'spin.cjs'))});
function own(ms) { const end = Date.now() + ms; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 2); return x; }
let sink = 0;
setInterval(() => { sink += spin(20) + own(20); }, 1);
process.stdout.write('ready\\n');
process.stdin.on('end', () => process.exit(sink > 0 ? 0 : 1));
process.stdin.resume();
`,
      );
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
      await removePerfDir();
    });

    it('splits its CPU between the library and our code', async () => {
      // .ci/run installs it; without it this test says so instead of failing on a missing binary.
      expect(perfAvailable(), 'Linux perf is needed (Debian: apt-get install linux-perf)').toBe(
        true,
      );
      const env = { PATH: process.env.PATH, ...profileEnv(true) };
      // Where V8 writes the jitdump perf reads the names of our code from.
      const child = spawn(process.execPath, [join(dir, 'apps', 'demo', 'dist', 'main.cjs')], {
        env,
        cwd: perfCwd(env),
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      try {
        await new Promise<void>((resolve) =>
          createInterface({ input: child.stdout }).once('line', () => resolve()),
        );
        const { profile } = await profiled(
          child.pid ?? 0,
          () => new Promise((resolve) => setTimeout(resolve, 1500)),
          () => 1,
        );
        const { conveyor = 0, zod = 0 } = profile.usPerUnit;
        const total = Object.values(profile.usPerUnit).reduce((a, b) => a + b, 0);
        // At least a third of a core over 1.5 s, nearly all of it in the two spinning functions.
        expect(total).toBeGreaterThan(500_000);
        expect((conveyor + zod) / total).toBeGreaterThan(0.8);
        expect(conveyor / total).toBeGreaterThan(0.25);
        expect(zod / total).toBeGreaterThan(0.25);
        expect(profile.samples).toBeGreaterThan(400);
      } finally {
        child.stdin.end();
        await new Promise((resolve) => child.once('exit', resolve));
        await removePerfFiles([child.pid]);
      }
    });
  });
});
