/**
 * `pnpm bench`: measures Conveyor against the physical limits, side by side in one run, on
 * loopback only, and prints the targets of issue 14 with their values. Every loop is bounded in
 * count and time, and everything started here is stopped here.
 *
 *   pnpm bench            the full run (about nine minutes)
 *   pnpm bench --quick    a smoke run with small counts
 *   pnpm bench --save     also write docs/benchmarks.json and regenerate docs/benchmarks.md
 *   pnpm bench --profile  also profile scenarios 3, 8 and 9's processes with Linux perf
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../lib/worker-process.js';
import { createBenchContext, type BenchContext } from './context.js';
import { redisHashValueBytes, redisInfo } from './cpu.js';
import { perfAvailable, removePerfDir } from './perf-profile.js';
import { machine, round, say } from './lib.js';
import { targetsText, targetRows } from './report.js';
import { DOC_JSON, writeBenchmarksDoc } from './report-md.js';
import type { BenchResults } from './results.js';
import { runBurst } from './scenarios/burst.js';
import { runColdStart } from './scenarios/cold-start.js';
import { runConcurrency } from './scenarios/concurrency.js';
import { runEndToEnd } from './scenarios/end-to-end.js';
import { runIngest } from './scenarios/ingest.js';
import { runLargeOutputs } from './scenarios/large-outputs.js';
import { runLatency } from './scenarios/latency.js';
import { runLimit } from './scenarios/limit.js';
import { runOcr } from './scenarios/ocr.js';
import { runOffline } from './scenarios/offline.js';
import { runPlainBullmq } from './scenarios/plain-bullmq.js';
import { runQueueLimit } from './scenarios/queue-limit.js';
import { runScaling } from './scenarios/scaling.js';
import { runShadow } from './scenarios/shadow.js';

type Scenario = (ctx: BenchContext, results: BenchResults) => Promise<void>;

/** The scenarios by number, run in this order; docs/benchmarks.md describes each. */
const SCENARIOS: readonly Scenario[] = [
  runLimit,
  runQueueLimit,
  runEndToEnd,
  runLatency,
  runBurst,
  runScaling,
  runConcurrency,
  runPlainBullmq,
  runIngest,
  runOffline,
  runLargeOutputs,
  runOcr,
  runColdStart,
  runShadow,
];

const DEFAULT_OUT = join(ROOT, 'bench-results', 'latest.json');

const USAGE = `pnpm bench [--quick] [--only 1,3,...] [--out file.json] [--save] [--profile]

  --quick        fewer jobs and shorter windows (a smoke run; the ratios are rougher)
  --only <list>  scenario numbers to run, 1-${SCENARIOS.length} (default all; 1 always runs)
  --out <file>   where the JSON goes (default bench-results/latest.json, not tracked)
  --save         also write docs/benchmarks.json and regenerate docs/benchmarks.md from it
  --profile      also profile more turns of scenarios 3, 8 and 9's processes with Linux perf
                 (where their CPU goes, by owner: Conveyor's code, fastify, BullMQ, ...)
`;

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function parseBenchArgs() {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        out: { type: 'string', default: DEFAULT_OUT },
        save: { type: 'boolean', default: false },
        profile: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
}

const args = parseBenchArgs();
if (args.help === true) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const all = SCENARIOS.map((_, i) => i + 1);
const only = new Set(
  args.only === undefined ? all : args.only.split(',').map((n) => Number(n.trim())),
);
if ([...only].some((n) => !all.includes(n)))
  fail(`--only takes scenario numbers from 1 to ${SCENARIOS.length}, not ${args.only}`);
only.add(1);
const quick = args.quick ?? false;
if (args.save === true && quick) fail('--save keeps full runs only; drop --quick');

const started = Date.now();
const results: BenchResults = {};
const profile = args.profile ?? false;
if (profile && !perfAvailable())
  fail('--profile needs Linux perf (Debian: apt-get install linux-perf)');
const ctx = await createBenchContext(quick, profile);
try {
  const info = await redisInfo(ctx.redis.url);
  const redisHashValue = await redisHashValueBytes(ctx.redis.url);
  results.machine = { ...machine(), redis: info.version, redisHashValueBytes: redisHashValue };
  say(`Conveyor benchmark${quick ? ' (quick)' : ''}: ${JSON.stringify(results.machine)}`);
  say(`Redis: throwaway redis-server at ${ctx.redis.url}; models: ${ctx.repository}`);
  for (const [i, scenario] of SCENARIOS.entries()) {
    if (!only.has(i + 1)) continue;
    try {
      await scenario(ctx, results);
    } catch (error) {
      // One broken scenario (a service that does not start) leaves the others' figures standing.
      const message = (error instanceof Error ? error.message : String(error)).slice(0, 2000);
      (results.errors ??= {})[String(i + 1)] = message;
      say(`   scenario ${i + 1} failed: ${message}`);
    }
  }
} finally {
  await ctx.close();
  if (profile) await removePerfDir();
}
results.targets = targetRows(results);
results.quick = quick;
results.date = new Date().toISOString();
results.durationS = round((Date.now() - started) / 1000, 0);
say(`\ntargets (issue 14), ${results.durationS} s:\n${targetsText(results.targets)}`);

const json = `${JSON.stringify(results, null, 2)}\n`;
const out = args.out ?? DEFAULT_OUT;
await mkdir(dirname(out), { recursive: true });
await writeFile(out, json);
say(`\nwrote ${out}`);
if (results.errors) process.exitCode = 1;
if (args.save === true) {
  await writeFile(DOC_JSON, json);
  const doc = await writeBenchmarksDoc();
  say(`wrote ${DOC_JSON} and ${doc}`);
}
