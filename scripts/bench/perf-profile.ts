/**
 * `pnpm bench --profile`: where a server's or a worker's CPU goes, by owner (Conveyor's code,
 * fastify, BullMQ, ioredis, ...), from Linux perf sampling the process's CPU time. Unlike
 * node's `--cpu-prof`, which samples wall time and so charges a thread waiting for a core to
 * whatever it was preempted in, perf's `cpu-clock` only samples threads on a core. Each sample is
 * charged to the nearest JavaScript frame outside Node's own modules, from the leaf up: the
 * kernel's time in a socket write goes to the code that wrote, V8's time in a JSON parse to the
 * code that parsed. Samples with no such frame are Node's and V8's own (the event loop, the HTTP
 * parser's callbacks, collections); onnxruntime's native code is counted apart, on any thread.
 * The profiled processes run with NODE_OPTIONS that make V8 write a jitdump of its code, in
 * PERF_DIR (see profileEnv, perfCwd); `perf inject --jit` turns it into symbols that hold at the
 * time of each sample. A `--perf-basic-prof` map has no times: once V8 reused the memory of code
 * it dropped, samples of the new code were named after the old (semver, luxon and prom-client
 * frames in a worker that runs none of them per job).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { CpuProfile } from './results.js';

/** Samples per second of CPU time on each thread. */
export const PERF_HZ = 999;

/** A profile's CPU µs per unit, all owners together. */
export const profileTotal = (p: CpuProfile): number =>
  Object.values(p.usPerUnit).reduce((a, b) => a + b, 0);

/** The owners a sample is charged to, in the order reports list them. */
export const OWNERS = [
  'conveyor',
  'fastify',
  'bullmq',
  'ioredis',
  'observability',
  'zod',
  'onnxruntime',
  'bench',
  'otherLibraries',
  'node',
] as const;
export type Owner = (typeof OWNERS)[number];

/** What each owner is, as a report names it. */
export const OWNER_LABELS: Record<Owner, string> = {
  conveyor: "Conveyor's code",
  fastify: 'fastify and its plugins',
  bullmq: 'BullMQ',
  ioredis: 'ioredis',
  observability: 'metrics, logs, traces',
  zod: 'zod',
  onnxruntime: 'onnxruntime',
  bench: "the bare server's code",
  otherLibraries: 'other libraries',
  node: 'Node and V8',
};

/** Packages by owner, as pnpm names their folders (`@scope+name`). */
const PACKAGES: [Owner, RegExp][] = [
  [
    'fastify',
    /^(fastify|@fastify\+.*|find-my-way|avvio|secure-json-parse|light-my-request|fast-json-stringify|fast-querystring|fast-decode-uri-component|toad-cache|ret|safe-regex2|rfdc|abstract-logging|process-warning|fastify-plugin|fastify-type-provider-zod)$/,
  ],
  ['bullmq', /^(bullmq|msgpackr|cron-parser|node-abort-controller)$/],
  [
    'ioredis',
    /^(ioredis|denque|redis-errors|redis-parser|standard-as-callback|cluster-key-slot|lodash\..*)$/,
  ],
  [
    'observability',
    /^(prom-client|tdigest|bintrees|pino|pino-.*|@pinojs\+.*|sonic-boom|thread-stream|@opentelemetry\+.*|quick-format-unescaped|safe-stable-stringify|on-exit-leak-free|atomic-sleep)$/,
  ],
  ['zod', /^zod$/],
];

/** The package a pnpm path names (`.pnpm/@scope+name@1.2.3_peer@4/...` gives `@scope+name`). */
function packageOf(path: string): string | undefined {
  const folder = /node_modules\/\.pnpm\/([^/]+)\//.exec(path)?.[1];
  if (folder === undefined) return undefined;
  const at = folder.indexOf('@', 1);
  return at < 0 ? folder : folder.slice(0, at);
}

/**
 * The owner of a JavaScript frame's file and, for another library, its name; undefined for Node's
 * own modules. Conveyor's per-turn batching of Redis writes (redis-write-batching.ts) only passes
 * ioredis's writes on, a turn later: they count for ioredis.
 */
function ownerOfPath(path: string): Charge | undefined {
  if (path.startsWith('node:')) return undefined;
  const name = packageOf(path);
  if (name === undefined) {
    if (/\/scripts\/bench\//.test(path)) return { owner: 'bench' };
    if (/\/packages\/shared\/(dist|src)\/redis-write-batching\./.test(path))
      return { owner: 'ioredis' };
    return /\/(packages|apps)\/[^/]+\/(dist|src)\//.test(path)
      ? { owner: 'conveyor' }
      : { owner: 'otherLibraries', library: path };
  }
  if (name === 'onnxruntime-node' || name === 'onnxruntime-common') return { owner: 'onnxruntime' };
  const owner = PACKAGES.find(([, names]) => names.test(name))?.[0];
  return owner === undefined ? { owner: 'otherLibraries', library: name } : { owner };
}

/** One frame of `perf script -F ip,sym,dso`: its symbol and its object. */
interface Frame {
  sym: string;
  dso: string;
}

/** Whom a sample is charged to: an owner, and for another library its name. */
export interface Charge {
  owner: Owner;
  library?: string;
}

/** Whom one sample's stack, leaf first, is charged to (see the module's comment). */
export function chargeOfStack(frames: readonly Frame[]): Charge {
  for (const { sym, dso } of frames) {
    if (/onnxruntime/.test(dso)) return { owner: 'onnxruntime' };
    // V8 names JIT code `JS:<tier><name> <file>:<line>:<column>` (in its jitdump as in a perf
    // map); the name may hold spaces (`get length`), the file does not.
    if (!sym.startsWith('JS:')) continue;
    const file = sym
      .slice(sym.lastIndexOf(' ') + 1)
      .replace(/^file:\/\//, '')
      .replace(/:\d+:\d+$/, '');
    if (!file.includes('/') && !file.startsWith('node:')) continue;
    const charge = ownerOfPath(file);
    if (charge !== undefined) return charge;
  }
  return { owner: 'node' };
}

/** Samples by owner, and those of other libraries by library. */
export interface OwnerCounts {
  owners: Record<Owner, number>;
  libraries: Map<string, number>;
}

/** Counts the samples of `perf script -F tid,ip,sym,dso` output by owner, line by line. */
export async function countOwners(lines: AsyncIterable<string>): Promise<OwnerCounts> {
  const owners = Object.fromEntries(OWNERS.map((o) => [o, 0])) as Record<Owner, number>;
  const libraries = new Map<string, number>();
  let frames: Frame[] | undefined;
  const end = () => {
    if (frames && frames.length > 0) {
      const { owner, library } = chargeOfStack(frames);
      owners[owner] += 1;
      if (library !== undefined) libraries.set(library, (libraries.get(library) ?? 0) + 1);
    }
    frames = undefined;
  };
  for await (const line of lines) {
    if (line.trim() === '') end();
    else if (!/^\s/.test(line)) {
      end();
      frames = [];
    } else {
      // `<address> <symbol> (<object>)`; the symbol may hold spaces and parentheses.
      const match = /^\s*[0-9a-f]+\s+(.*)\s+\(([^()]*)\)$/.exec(line);
      if (match) (frames ??= []).push({ sym: match[1] ?? '', dso: match[2] ?? '' });
    }
  }
  end();
  return { owners, libraries };
}

/** Whether `perf` is installed and may sample this machine's processes. */
export function perfAvailable(): boolean {
  const probe = spawnSync('perf', ['record', '-e', 'cpu-clock', '-o', '/dev/null', '--', 'true'], {
    stdio: 'ignore',
  });
  return probe.status === 0;
}

/**
 * Where profiled processes run: V8 writes its jitdump (`jit-<pid>.dump`) and logs in the working
 * directory, and `perf inject` its symbol files (`jitted-<pid>-<n>.so`) beside the dump.
 */
export const PERF_DIR = join(tmpdir(), 'conveyor-bench-perf');

const PROFILE_NODE_OPTIONS = '--perf-prof --interpreted-frames-native-stack';

/** The environment of a process to profile: V8 writes a jitdump of its code for perf. */
export function profileEnv(profile: boolean): Record<string, string> {
  if (!profile) return {};
  mkdirSync(PERF_DIR, { recursive: true });
  return { NODE_OPTIONS: PROFILE_NODE_OPTIONS };
}

/** The working directory a process with this environment must run in: PERF_DIR if profiled. */
export const perfCwd = (env: Readonly<Record<string, string | undefined>>): string | undefined =>
  env.NODE_OPTIONS === PROFILE_NODE_OPTIONS ? PERF_DIR : undefined;

/**
 * perf's options before its command: the symbol files of injected code are cached in PERF_DIR,
 * removed with it, instead of the user's ~/.debug.
 */
const PERF_CACHE = ['--buildid-dir', join(PERF_DIR, 'buildid')];

/** Runs perf, and rejects unless it exits with 0. */
async function perfRun(args: readonly string[]): Promise<void> {
  const perf = spawn('perf', [...PERF_CACHE, ...args], { stdio: 'ignore' });
  // A perf that cannot start (not installed) ends with 'error' and no exit code.
  const code = await new Promise<number | null>((resolve) => {
    perf.once('exit', resolve);
    perf.once('error', () => resolve(null));
  });
  if (code !== 0) throw new Error(`perf ${args[0]} exited with ${code}`);
}

/**
 * Samples `pid` (every thread) while `work` runs, and gives the CPU µs per unit of work by owner.
 * `units` is how many requests or jobs `work` did. The process must run with profileEnv.
 */
export async function profiled<T>(
  pid: number,
  work: () => Promise<T>,
  units: (result: T) => number,
): Promise<{ result: T; profile: CpuProfile }> {
  const data = join(PERF_DIR, `perf-${pid}-${Date.now()}.data`);
  const injected = `${data}.jit`;
  const perf = spawn(
    'perf',
    [
      ...PERF_CACHE,
      'record',
      // The monotonic clock V8 stamps its jitdump with.
      '-k',
      'mono',
      '--no-buildid-cache',
      '-e',
      'cpu-clock',
      '-F',
      String(PERF_HZ),
      '-g',
      '-p',
      String(pid),
      '-o',
      data,
    ],
    { stdio: 'ignore' },
  );
  // perf ends on SIGINT by writing its file and exiting with that signal.
  const exited = new Promise<boolean>((resolve) => {
    perf.once('exit', (code, signal) => resolve(code === 0 || signal === 'SIGINT'));
    perf.once('error', () => resolve(false));
  });
  try {
    // perf attaches to the process's threads after it starts; give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const result = await work();
    perf.kill('SIGINT');
    if (!(await exited)) throw new Error(`perf record of process ${pid} failed`);
    await perfRun(['inject', '--jit', '-i', data, '-o', injected]);
    const script = spawn(
      'perf',
      [...PERF_CACHE, 'script', '-i', injected, '-F', 'tid,ip,sym,dso'],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    const { owners, libraries } = await countOwners(createInterface({ input: script.stdout }));
    const samples = OWNERS.reduce((sum, owner) => sum + owners[owner], 0);
    const per = (n: number) => Math.round((n / PERF_HZ / Math.max(1, units(result))) * 1e7) / 10;
    const usPerUnit = Object.fromEntries(OWNERS.map((o) => [o, per(owners[o])]));
    // The other libraries that took the most, by name.
    const otherLibraries = Object.fromEntries(
      [...libraries]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([name, n]) => [name.replace(/\+/, '/'), per(n)]),
    );
    return {
      result,
      profile: { hz: PERF_HZ, units: units(result), samples, usPerUnit, otherLibraries },
    };
  } finally {
    if (perf.exitCode === null && perf.signalCode === null) perf.kill('SIGKILL');
    await Promise.all([rm(data, { force: true }), rm(injected, { force: true })]);
    await removeFromPerfDir((name) => name.startsWith(`jitted-${pid}-`));
  }
}

/** Removes the files of PERF_DIR whose names `match` says. */
async function removeFromPerfDir(match: (name: string) => boolean): Promise<void> {
  const names = await readdir(PERF_DIR).catch(() => [] as string[]);
  await Promise.all(names.filter(match).map((n) => rm(join(PERF_DIR, n), { force: true })));
}

/** Removes the jitdumps and V8 logs of these processes (once perf has read them). */
export function removePerfFiles(pids: readonly (number | undefined)[]): Promise<void> {
  return removeFromPerfDir((name) =>
    pids.some(
      (pid) => pid !== undefined && (name === `jit-${pid}.dump` || name.endsWith(`-${pid}-v8.log`)),
    ),
  );
}

/** Removes PERF_DIR: the jitdumps, V8 logs and symbol caches of a profiled run. */
export async function removePerfDir(): Promise<void> {
  await rm(PERF_DIR, { recursive: true, force: true });
}
