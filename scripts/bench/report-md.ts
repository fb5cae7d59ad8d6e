/**
 * Generates docs/benchmarks.md from docs/benchmarks.json: the prose below is the template, every
 * table and figure comes from the JSON, and a scenario missing from it reads "not measured".
 * test/bench-docs.test.ts checks that the committed doc is what this makes.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { ROOT } from '../lib/worker-process.js';
import {
  IRIS_OVER_PLAIN_GOAL,
  imageFloor,
  imageInProcessBest,
  imageRunBound,
  inferenceMsPerRow,
  inProcessMsPerRow,
  targetRows,
  verdict,
} from './report.js';
import { OWNERS, OWNER_LABELS, profileTotal } from './perf-profile.js';
import { INTRO, LOAD_TESTS, PROFILING } from './report-md-template.js';
import type {
  CpuProfile,
  AcceptOnlySide,
  BenchResults,
  BudgetRunResult,
  BurstSide,
  CpuSeconds,
  EndToEndResult,
  OfflineCliSide,
  OfflineSide,
  PlainBullmqResult,
  RedisCommandsPerJob,
} from './results.js';
import { measuredAfterIdle } from './results.js';
import { rewriteScalingPage } from './scaling-figures.js';

export const DOC_JSON = join(ROOT, 'docs', 'benchmarks.json');
export const DOC_MD = join(ROOT, 'docs', 'benchmarks.md');
export const SCALING_MD = join(ROOT, 'docs', 'scaling.md');

const NOT_MEASURED = '_Not measured in this run._';

type Cell = string | number | undefined;

function table(header: readonly string[], rows: readonly (readonly Cell[])[], right = 1): string {
  const line = (cells: readonly Cell[]) =>
    `| ${cells.map((c) => (c === undefined ? '' : String(c))).join(' | ')} |`;
  const rule = header.map((_, i) => (i < right ? '---' : '---:'));
  return [line(header), line(rule), ...rows.map(line)].join('\n');
}

const n = (v: number | undefined, digits = 0) =>
  v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(digits);

function latestRun(r: BenchResults): string {
  const m = r.machine;
  if (!m || r.date === undefined) return NOT_MEASURED;
  const hashValue =
    m.redisHashValueBytes === undefined
      ? ''
      : ` (\`hash-max-listpack-value ${m.redisHashValueBytes}\`)`;
  const redis = m.redis === undefined ? '' : `, Redis ${m.redis}${hashValue}`;
  const failed = Object.entries(r.errors ?? {}).map(
    ([scenario, message]) => `\n\nScenario ${scenario} failed: ${message.split('\n')[0] ?? ''}`,
  );
  return `Run on ${r.date.slice(0, 10)}: ${m.cpus} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}${redis}, \`pnpm bench${r.quick === true ? ' --quick' : ''}\` in ${r.durationS ?? '?'} s.${failed.join('')}`;
}

/** What a status of "limit below goal" means, under the targets table. */
const LIMITED_NOTE =
  '"limit below goal": not met, and the same run, doing the same work with no Conveyor code (plain BullMQ carrying the same job or bytes, the bare server queueing with plain BullMQ, a bare fastify round trip for what HTTP adds, the bare server queueing a burst while no worker runs), did not reach the goal either: on this machine the goal is past what the queue itself allows.';

function targets(r: BenchResults): string {
  return table(
    ['target', 'value', 'target', 'status'],
    targetRows(r).map((t) => [t.label, t.value, t.target, verdict(t)]),
    4,
  );
}

/**
 * A row of the throughput table: a run's rate (its fastest turn, and every turn's), mean batch, and
 * CPU seconds and ms per job.
 */
function cpuRow(
  label: string,
  jobsPerSecond: number,
  batch: Cell,
  c: { driver: number; worker: number; redis: number },
  jobs: number,
  turns?: readonly number[],
): Cell[] {
  return [
    label,
    `${jobsPerSecond} jobs/s${turns ? ` (turns: ${turns.join(' / ')})` : ''}`,
    batch,
    `${c.driver} / ${c.worker} / ${c.redis}`,
    n(((c.worker + c.redis) * 1000) / jobs, 3),
    n((c.driver * 1000) / jobs, 3),
  ];
}

function throughput(r: BenchResults): string {
  const rows: Cell[][] = [];
  const limit = r.limit ?? {};
  for (const [w, l] of Object.entries(limit))
    rows.push([
      `1. in-process ${w}, batch 1 / best`,
      `${l.batch1RowsPerSecond} / ${l.bestRowsPerSecond} rows/s (batch ${l.bestBatch})`,
      '',
      '',
      '',
      '',
    ]);
  if (r.queueLimit)
    rows.push([
      '2. SDK against a no-op BullMQ worker (iris)',
      `${r.queueLimit.jobsPerSecond} jobs/s`,
      '',
      '',
      '',
      '',
    ]);
  for (const [model, e] of Object.entries(r.endToEnd ?? {})) {
    const jobs = e.jobs ?? Math.round(e.jobsPerSecond * e.seconds);
    rows.push(
      cpuRow(
        `3. end to end, ${model}`,
        e.jobsPerSecond,
        n(e.meanBatchRows, 1),
        e.cpuSeconds,
        jobs,
        e.turnsPerSecond,
      ),
    );
    const local = e.inProcess;
    if (local)
      rows.push([
        `3. in-process ${model}, batch ${local.batch}, in turns alternating with the row above`,
        `${local.rowsPerSecond} rows/s (turns: ${local.turnsPerSecond.join(' / ')})`,
        String(local.batch),
        '',
        '',
        '',
      ]);
  }
  const plainRow = (label: string, x: PlainBullmqResult) =>
    cpuRow(label, x.jobsPerSecond, '', x.cpuSeconds, x.jobs, x.turnsPerSecond);
  const p = r.plainBullmq;
  if (p) rows.push(plainRow(`8. plain BullMQ round trip (${p.jobs} jobs)`, p));
  const shaped = p?.conveyorShaped;
  if (shaped)
    rows.push(plainRow(`8. plain BullMQ carrying Conveyor's iris job, in the same turns`, shaped));
  const c = p?.conveyor;
  if (c)
    rows.push(
      cpuRow(
        `8. Conveyor end to end, iris, in the same turns`,
        c.jobsPerSecond,
        n(c.meanBatchRows, 1),
        c.cpuSeconds,
        c.jobs ?? p.jobs,
        c.turnsPerSecond,
      ),
    );
  const pi = r.plainBullmqImage;
  if (pi) rows.push(plainRow(`8. plain BullMQ, 110 KB stored once per job (${pi.jobs} jobs)`, pi));
  if (rows.length === 0) return NOT_MEASURED;
  return `${table(
    [
      'run',
      'rate',
      'mean batch (rows)',
      'CPU s: driver / worker / Redis',
      'worker+Redis CPU ms per job',
      'driver CPU ms per job',
    ],
    rows,
    2,
  )}${irisGap(r)}${irisCommands(r)}${imageCeiling(r)}`;
}

/** Commands shown in the iris command table: the costliest of Conveyor's turn. */
const COMMAND_ROWS = 12;

/**
 * The commands Redis ran per iris job in each side's fastest turn (8): which of Redis's time is
 * BullMQ's scripts, and whether Conveyor's turn ran any command the job's shape alone does not.
 */
function irisCommands(r: BenchResults): string {
  const p = r.plainBullmq;
  const [plain, shaped, conveyor] = [
    p?.redisCommands,
    p?.conveyorShaped?.redisCommands,
    p?.conveyor?.redisCommands,
  ];
  if (!plain || !shaped || !conveyor) return '';
  const cell = (side: RedisCommandsPerJob, name: string) => {
    const c = side[name];
    return c === undefined ? '' : `${n(c.calls, 2)} / ${n(c.us, 1)}`;
  };
  const names = Object.keys(conveyor).slice(0, COMMAND_ROWS);
  const rows = names.map((name) => [
    `\`${name.toUpperCase()}\``,
    cell(plain, name),
    cell(shaped, name),
    cell(conveyor, name),
  ]);
  const header = [
    'command',
    'plain BullMQ: calls / µs per job',
    "carrying Conveyor's job",
    'Conveyor',
  ];
  return `\n\nRedis's commands per iris job in the same fastest turns (8; INFO commandstats before and after each turn, the ${COMMAND_ROWS} costliest of Conveyor's turn). EVALSHA runs BullMQ's Lua scripts, adding a job and finishing one (with the next job fetched); its time includes the commands those scripts call, which also count on their own rows. ${sameCommands(shaped, conveyor)}\n\n${table(header, rows)}`;
}

/** Calls per job that differ by less than this (or 5 %) count as the same. */
const SAME_CALLS = 0.05;

/** Whether Conveyor's turn ran the commands of plain BullMQ carrying its job, and how fast. */
function sameCommands(shaped: RedisCommandsPerJob, conveyor: RedisCommandsPerJob): string {
  const names = new Set([...Object.keys(shaped), ...Object.keys(conveyor)]);
  const differ = [...names].filter((name) => {
    const [a, b] = [shaped[name]?.calls ?? 0, conveyor[name]?.calls ?? 0];
    return Math.abs(a - b) > Math.max(SAME_CALLS, SAME_CALLS * a);
  });
  const [a, b] = [shaped.evalsha?.us, conveyor.evalsha?.us];
  const scripts = `EVALSHA ${n(b, 1)} µs per job against ${n(a, 1)}`;
  if (differ.length > 0)
    return `Conveyor's turn ran other calls per job than plain BullMQ carrying its job: ${differ.map((x) => x.toUpperCase()).join(', ')} (${scripts}).`;
  const ratio = n(b === undefined || a === undefined ? undefined : b / a, 2);
  return `Conveyor's turn ran the commands of plain BullMQ carrying its job, as many per job (their rows differ only in time): Redis did no more work for Conveyor than for its job's shape, but the same scripts took ${ratio} times as long (${scripts}) while Conveyor's busier client and worker shared the two cores with it.`;
}

/**
 * Where Conveyor's iris job costs more than plain BullMQ's (8, the same alternating turns): the
 * queue carrying Conveyor's bigger job (its id, options, payload and result), and Conveyor's own
 * code in the client and the worker around it.
 */
function irisGap(r: BenchResults): string {
  const p = r.plainBullmq;
  const shaped = p?.conveyorShaped;
  const c = p?.conveyor;
  if (!p || !shaped || !c) return '';
  const sides = [
    [p.cpuSeconds, p.jobs],
    [shaped.cpuSeconds, shaped.jobs],
    [c.cpuSeconds, c.jobs ?? p.jobs],
  ] as const;
  // Per job, in µs: driver, worker and Redis, then the worker's main thread (NaN when unrecorded).
  const [a, b, d] = sides.map(([cpu, jobs]) =>
    [cpu.driver, cpu.worker, cpu.redis].map((x) => (x * 1e6) / jobs),
  ) as [number[], number[], number[]];
  const mains = sides.map(([cpu, jobs]) => ((cpu.workerMainThread ?? Number.NaN) * 1e6) / jobs);
  const us = (v: readonly number[]) => v.map((x) => n(x, 0)).join(' / ');
  const minus = (x: readonly number[], y: readonly number[]) => x.map((v, i) => v - (y[i] ?? 0));
  const sum = (v: readonly number[]) => v.reduce((s, x) => s + x, 0);
  return `\n\nPer iris job (8), CPU µs of driver / worker / Redis: plain BullMQ ${us(a)} (${n(sum(a), 0)} in all); carrying Conveyor's job ${us(b)} (${n(sum(b), 0)}); Conveyor ${us(d)} (${n(sum(d), 0)}). Of the ${n(sum(d) - sum(a), 0)} µs Conveyor costs more per job, its job's shape in BullMQ and Redis accounts for ${n(sum(b) - sum(a), 0)} (${us(minus(b, a))}) and Conveyor's own work for ${n(sum(d) - sum(b), 0)} (${us(minus(d, b))}): in the client, enqueueing, reading the event stream and decoding each result; in the worker, reading and checking the payload, batching, onnxruntime and encoding the outputs; and in Redis, which runs the same commands for both sides (the job is Conveyor's own).${irisRuns(r, c)}${workerThreads(mains, [a, b, d])}${irisBudget(p, c, sum(a), sum(b), sum(d))}`;
}

/**
 * onnxruntime's part of Conveyor's own work on iris (8): the runtime's time per job by the results'
 * own timings, its calls' size and length, and the same call in scenario 1's loop, which runs
 * nothing else between calls; empty for older files.
 */
function irisRuns(r: BenchResults, c: EndToEndResult): string {
  const { runUsPerJob: perJob, rowsPerCall: rows } = c;
  if (perJob === undefined || rows === undefined) return '';
  const alone = inProcessMsPerRow(r, 'iris', rows);
  const there = alone
    ? `, where scenario 1, calling it back to back and nothing else, takes ${n(alone.msPerRow * alone.batch * 1000, 0)} µs for a call of ${alone.batch}`
    : '';
  return ` Of Conveyor's own work, onnxruntime's runs of the model take ${n(perJob, 1)} µs per job by the results' \`runMs\`: calls of ${n(rows, 1)} rows on average, ${n(perJob * rows, 0)} µs each on the worker's main thread between its other work${there}.`;
}

/**
 * How each side's worker CPU per iris job (8) splits between its main thread (the JavaScript) and
 * its other threads, from the main thread's µs and the [driver, worker, Redis] µs per job of plain
 * BullMQ, plain BullMQ carrying Conveyor's job and Conveyor; empty for older files.
 */
function workerThreads(mains: readonly number[], perJob: readonly (readonly number[])[]): string {
  if (mains.some((main) => !Number.isFinite(main))) return '';
  const [a, b, d] = mains.map((main, i) => `${n(main, 0)} / ${n((perJob[i]?.[1] ?? 0) - main, 0)}`);
  return ` The worker's CPU µs per job, main thread (its JavaScript) / other threads (V8's compiler and garbage collector, libuv, and onnxruntime's unless it runs on the main thread): plain BullMQ ${a}, carrying Conveyor's job ${b}, Conveyor ${d}.`;
}

/** Cores a run kept busy: the CPU seconds of driver, worker and Redis over its seconds. */
const coresBusy = (run: { cpuSeconds: CpuSeconds; seconds: number }): number =>
  (run.cpuSeconds.driver + run.cpuSeconds.worker + run.cpuSeconds.redis) / run.seconds;

/**
 * What the iris target leaves for Conveyor's own code. A side's rate is the cores it keeps busy
 * over its CPU per job, so the goal caps Conveyor's CPU per job at the cores it kept busy.
 */
function irisBudget(
  plain: PlainBullmqResult,
  conveyor: EndToEndResult,
  plainUs: number,
  shapedUs: number,
  conveyorUs: number,
): string {
  const [mine, theirs] = [coresBusy(conveyor), coresBusy(plain)];
  const budget = (plainUs * mine) / (IRIS_OVER_PLAIN_GOAL * theirs);
  const left = budget - shapedUs;
  return ` A side's rate is the cores it keeps busy over its CPU per job: with ${n(mine, 2)} cores busy (plain BullMQ ${n(theirs, 2)}), ${IRIS_OVER_PLAIN_GOAL} of plain BullMQ's rate allows Conveyor at most ${n(budget, 0)} µs per job in all. Carrying Conveyor's job costs BullMQ and Redis ${n(shapedUs, 0)}, ${left > 0 ? `which leaves ${n(left, 0)} µs for Conveyor's own work, against the ${n(conveyorUs - shapedUs, 0)} it took` : `${n(-left, 0)} over it before any of Conveyor's own work`}.`;
}

/**
 * Where the batched image run's CPU went per job, and the rate the machine's cores allow at that
 * cost: the physical limit its end-to-end target meets.
 */
function imageCeiling(r: BenchResults): string {
  const e = r.endToEnd?.['text-direction'];
  const best = imageInProcessBest(r)?.rowsPerSecond;
  const inference = inferenceMsPerRow(r);
  const cores = r.machine?.cpus;
  if (!e || best === undefined || !inference || cores === undefined) return '';
  const jobs = e.jobs ?? Math.round(e.jobsPerSecond * e.seconds);
  const perJob = (seconds: number) => (seconds * 1000) / jobs;
  const c = e.cpuSeconds;
  const total = perJob(c.driver + c.worker + c.redis);
  const ceiling = (cores * 1000) / total;
  const kernel = e.redisKernel;
  const faults = kernel ? kernel.minorFaults / jobs : Number.NaN;
  // A 110 KB input spans 27 pages: near that many faults, Redis wrote most inputs to fresh memory.
  const fresh = faults > 10 ? ': most inputs land in memory Redis has not touched lately' : '';
  const redisKernel = kernel
    ? ` (${n(perJob(kernel.systemSeconds), 3)} of it in the kernel; ${n(faults, 1)} minor page faults per job${fresh})`
    : '';
  const floor = imageFloor(r);
  const floorTotal = floor && inference.msPerRow + floor.driver + floor.worker + floor.redis;
  const floorText =
    floor && floorTotal
      ? ` Plain BullMQ moving the same 110 KB per job with no Conveyor code (8: SET, a no-op job, GETDEL) spends ${n(floor.driver, 3)} in its driver, ${n(floor.worker, 3)} in its worker and ${n(floor.redis, 3)} in Redis: with inference added, ${n(floorTotal, 3)} CPU ms per job, which ${cores} cores allow at most ${n((cores * 1000) / floorTotal, 0)} times a second, ${n((cores * 1000) / floorTotal / best, 3)} of the in-process best; and inference can be at most ${n(floor.shareAtMost, 3)} of worker+Redis CPU.${besideText(floor, inference)}${busyText(r, floorTotal, best)}`
      : '';
  return `\n\nPer batched text-direction job (3), CPU ms: inference about ${n(inference.msPerRow, 3)}, the worker around it ${n(perJob(c.worker) - inference.msPerRow, 3)}, Redis ${n(perJob(c.redis), 3)}${redisKernel}, the driver ${n(perJob(c.driver), 3)}; ${n(total, 3)} in all. At that cost ${cores} cores allow at most ${n(ceiling, 0)} jobs/s, ${n(ceiling / best, 3)} of the in-process best; 0.75 of it needs at most ${n((cores * 1000) / (0.75 * best), 3)} CPU ms per job, all processes together.${imageRunText(r, e, best)}${floorText}`;
}

/**
 * Plain BullMQ's image turns with the model running beside them (8): what the bytes and the model
 * cost while they share the machine, and the inference share that leaves.
 */
function besideText(
  floor: NonNullable<ReturnType<typeof imageFloor>>,
  inference: { msPerRow: number },
): string {
  const b = floor.beside;
  if (!b) return '';
  const s = floor.shaped;
  const held = ', the limit the inference share target is held to';
  const shaped = s
    ? ` Carrying Conveyor's own image job instead (its id, retry and retention options, payload and return value, the bytes read with GET and deleted once the completion is recorded, as a Conveyor worker keeps them for a retry), beside the model, plain BullMQ took ${n(s.worker, 3)} in the worker and ${n(s.redis, 3)} in Redis per job, the model ${n(s.inferenceMsPerRow, 3)} per row: inference can be at most ${n(s.shareAtMost, 3)} of worker+Redis CPU${held}; what Conveyor's code around the job costs is the rest.`
    : '';
  return ` With onnxruntime running the model in a process beside it, at a worker's priority (the turns alternating with those), moving the bytes took ${n(b.worker, 3)} in the worker and ${n(b.redis, 3)} in Redis per job (alone: ${n(floor.worker, 3)} and ${n(floor.redis, 3)}), and the model ${n(b.inferenceMsPerRow, 3)} CPU ms per row (in-process alone: ${n(inference.msPerRow, 3)}): inference can be at most ${n(b.shareAtMost, 3)} of worker+Redis CPU${s ? '.' : `${held}.`}${shaped}`;
}

/**
 * What onnxruntime's own time in the worker allows the image run: one inference thread, never
 * idle, runs calls at the time they took there, slower than the same calls in-process (1).
 */
function imageRunText(r: BenchResults, e: EndToEndResult, best: number): string {
  const bound = imageRunBound(r);
  const alone = e.rowsPerCall && inProcessMsPerRow(r, 'text-direction', e.rowsPerCall);
  if (!bound || !alone) return '';
  return ` onnxruntime itself took ${n(bound.runMsPerJob, 3)} ms per job in the worker (its calls' own time on the inference thread over their rows, calls of ${n(e.rowsPerCall ?? 0, 1)} rows on average), where scenario 1 runs a call of ${alone.batch} at ${n(alone.msPerRow, 3)} ms per row and the alternating in-process turns ${n(1000 / best, 3)} (where nothing else runs; end to end the inference thread shares the two cores with Redis, the driver and the worker's main thread, at the worker's lower priority, \`WORKER_NICE\`, so a run's time counts the moments it waited for a core): at its own time, one inference thread busy all the time allows at most ${n(bound.jobsPerSecond, 0)} jobs/s, ${n(bound.overBest, 3)} of the in-process best (the run reached ${n(e.jobsPerSecond / bound.jobsPerSecond, 2)} of that).`;
}

/**
 * How many cores plain BullMQ's own round trip (8) keeps busy (its processes wait on each other's
 * replies), and the image rate the bytes' floor allows at that: the limit a queue of any code
 * meets on this machine.
 */
function busyText(r: BenchResults, floorTotal: number, best: number): string {
  const p = r.plainBullmq;
  if (!p) return '';
  const busy = coresBusy(p);
  const rate = (busy * 1000) / floorTotal;
  return ` Plain BullMQ itself keeps ${n(busy, 2)} of the cores busy in its iris round trip (8); at that, the floor allows ${n(rate, 0)} jobs/s, ${n(rate / best, 3)} of the in-process best.`;
}

function latency(r: BenchResults): string {
  const rows: Cell[][] = Object.entries(r.latency ?? {}).map(([w, l]) => [
    w,
    n(l.rawP50Ms, 3),
    w === 'iris' ? n(l.floorP50Ms ?? r.queueLimit?.syncP50Ms, 3) : '',
    `${n(l.sdkP50Ms, 3)} / ${n(l.sdkP99Ms, 3)}`,
    `${n(l.httpP50Ms, 3)} / ${n(l.httpP99Ms, 3)}`,
  ]);
  const e = r.embedded;
  const queue =
    rows.length === 0
      ? NOT_MEASURED
      : table(
          [
            'model',
            'in-process p50 (ms)',
            'queue floor p50 (ms)',
            'SDK p50 / p99 (ms)',
            'HTTP p50 / p99 (ms)',
          ],
          rows,
        );
  const embedded = e
    ? table(
        ['embedded, same process (iris)', 'p50 (ms)', 'p99 (ms)'],
        [
          ['onnxruntime-node `session.run`', n(e.rawP50Ms, 4), n(e.rawP99Ms, 4)],
          ['`createEmbeddedClient(...).predict`', n(e.embeddedP50Ms, 4), n(e.embeddedP99Ms, 4)],
        ],
      )
    : NOT_MEASURED;
  const idle = !measuredAfterIdle(e)
    ? ''
    : ` Then ${e.idleSamples} calls of each, every one after ${e.idleGapMs} ms of idling, as a worker's calls come at low load: \`session.run\` p50 ${n(e.rawAfterIdleP50Ms, 4)} ms, \`predict\` p50 ${n(e.embeddedAfterIdleP50Ms, 4)} ms. What a call costs after an idle gap on this host, whoever's code it runs; the worker's own run and \`engine.predict\` in the SDK's calls above are timed at that pace.`;
  return `${queue}\n\n${embedded}${e ? `\n\n${e.samples} interleaved calls of each after 200 of warm-up.${idle}` : ''}`;
}

function burst(r: BenchResults): string {
  const b = r.burst;
  if (!b) return NOT_MEASURED;
  const side = (label: string, s: BurstSide | AcceptOnlySide, done: string) => [
    label,
    s.accepted,
    s.errors,
    s.timeouts,
    `${n(s.p50Ms, 1)} ms`,
    `${n(s.p99Ms, 1)} ms`,
    done,
    s.lost ?? 'n/a',
  ];
  const warm =
    b.warmRequests === undefined
      ? ''
      : ` Each server was first warmed up with ${b.warmRequests} requests over 32 connections (Conveyor's warm-up jobs drained before its burst).`;
  return `${b.total} requests of ${b.workload} at ${b.rate}/s with a ${b.timeoutMs / 1000} s client timeout.${warm}\n\n${table(
    [
      'side',
      'answered 2xx',
      'connection errors',
      'timeouts',
      'p50 answer',
      'p99 answer',
      'done after',
      'accepted jobs lost',
    ],
    [
      side(
        'Conveyor (202, job runs later)',
        b.conveyor,
        `${b.conveyor.drainSeconds} s (queue drained)`,
      ),
      ...(b.plainQueued
        ? [
            side(
              'bare fastify queueing with plain BullMQ, a plain BullMQ worker running the model (202)',
              b.plainQueued,
              `${b.plainQueued.drainSeconds} s (queue drained)`,
            ),
          ]
        : []),
      side('naive inline server (200 with the result)', b.naive, `${b.naive.drainSeconds} s`),
      ...(b.acceptOnly
        ? [
            side(
              'no worker running: Conveyor (202)',
              b.acceptOnly.conveyor,
              `${b.acceptOnly.conveyor.sendSeconds} s`,
            ),
            side(
              'no worker running: bare fastify queueing with plain BullMQ (202)',
              b.acceptOnly.bareQueued,
              `${b.acceptOnly.bareQueued.sendSeconds} s`,
            ),
          ]
        : []),
    ],
  )}${otherBursts(b.conveyor)}${plainPipeline(b)}${warmUpBursts(b)}${burstCpu(r)}`;
}

/**
 * The same work as Conveyor's side with no Conveyor code: its bursts, and where the cores went
 * while its kept burst was sent and answered.
 */
function plainPipeline(b: NonNullable<BenchResults['burst']>): string {
  const plain = b.plainQueued;
  if (!plain) return '';
  const others = (plain.otherBursts ?? []).map((o) => `${n(o.p99Ms, 1)} ms`).join(', ');
  const cpu = plain.cpuSeconds;
  const used =
    cpu && plain.sendSeconds
      ? ` While its kept burst was sent and answered (${plain.sendSeconds} s), it used driver ${cpu.driver}, server ${cpu.producer}, worker ${cpu.worker}, Redis ${cpu.redis} CPU s.`
      : '';
  return `\n\nThe plain pipeline is the same work with no Conveyor code, bursted as Conveyor's side is (its queue drained in between, the burst with the lower p99 kept; the other's p99: ${others || 'none'}): scenario 9's bare fastify server queueing each image with plain BullMQ (the image stored once as bytes beside its job), and a plain BullMQ worker process taking the bytes and running the model with onnxruntime-node on its main thread, one image a call, at the priority a Conveyor worker runs at (WORKER_NICE's default). Where its p99 misses the goal as well, the target's row says "limit below goal".${used}`;
}

/** The first burst of each side, not measured: a cold host's (see scenarios/burst.ts). */
function warmUpBursts(b: NonNullable<BenchResults['burst']>): string {
  const sides: [string, Pick<BurstSide, 'warmUpBurst'> | undefined][] = [
    ["Conveyor's", b.conveyor],
    ["the plain pipeline's", b.plainQueued],
    ["the naive server's", b.naive],
    ["with no worker, Conveyor's", b.acceptOnly?.conveyor],
    ["the bare server's", b.acceptOnly?.bareQueued],
  ];
  const each = sides.flatMap(([name, side]) =>
    side?.warmUpBurst
      ? [`${name} p99 ${n(side.warmUpBurst.p99Ms, 1)} ms (${side.warmUpBurst.lost} lost)`]
      : [],
  );
  if (each.length === 0) return '';
  return `\n\nEvery side first took one burst that is not measured, after its closed-loop warm-up: the scenario's first burst meets a cold host whatever server takes it (Redis faults in fresh pages for the images, and a server that falls behind falls further). Their p99s: ${each.join('; ')}. The lost jobs of Conveyor's first burst with a worker count in the target's row, as its other bursts' do.`;
}

/** The bursts Conveyor's side ran besides the one its row of the table shows. */
function otherBursts(kept: BurstSide): string {
  const others = kept.otherBursts ?? [];
  if (others.length === 0) return '';
  const each = others
    .map(
      (o) =>
        `p50 ${n(o.p50Ms, 1)} ms, p99 ${n(o.p99Ms, 1)} ms, ${o.lost} of ${o.accepted} accepted jobs lost`,
    )
    .join('; ');
  return `\n\nConveyor's side ran ${others.length + 1} bursts, its queue drained in between, and its row shows the one with the lower p99 (a busy moment of the host that falls on a burst of a few seconds is no measure of Conveyor). The ${others.length === 1 ? 'other' : 'others'}: ${each}.`;
}

/**
 * Where the cores went during Conveyor's side of the burst, and what accepting alone would need
 * at the burst's rate at scenario 9's CPU per image request: the physical bound of the burst.
 */
function burstCpu(r: BenchResults): string {
  const b = r.burst;
  const cpu = b?.conveyor.cpuSeconds;
  const seconds = b?.conveyor.sendSeconds;
  if (!b || !cpu || !seconds) return '';
  const total = cpu.driver + cpu.producer + cpu.worker + cpu.redis;
  const used = `\n\nWhile Conveyor's side was sent and answered (${seconds} s), it used ${n(total, 1)} CPU s: driver ${cpu.driver}, producer ${cpu.producer}, worker ${cpu.worker}, Redis ${cpu.redis}; ${n(total / seconds, 2)} of the machine's ${r.machine?.cpus ?? '?'} cores.`;
  const side = r.ingest?.['text-direction']?.conveyor;
  const image = side?.cpuMsPerRequest;
  if (!image) return used;
  const perRequest = cpuMsOf(image);
  const faults =
    side.redisFaultsPerRequest === undefined
      ? ''
      : `, with ${side.redisFaultsPerRequest} page faults per request as its memory grows by each image`;
  return `${used}${acceptOnlyCpu(b)} Accepting alone costs ${n(perRequest, 3)} CPU ms per image request (scenario 9: producer ${image.server}, driver ${image.driver}, Redis ${image.redis}${faults}), so ${b.rate} requests/s need ${n((perRequest * b.rate) / 1000, 2)} cores before any inference.${queuedCost(r, b.rate)}`;
}

/** Where the cores went in the burst with no worker running. */
function acceptOnlyCpu(b: NonNullable<BenchResults['burst']>): string {
  const sides = b.acceptOnly;
  if (!sides) return '';
  const use = (label: string, s: AcceptOnlySide) => {
    const { driver, server, redis } = s.cpuSeconds;
    const total = driver + server + redis;
    const cores = s.sendSeconds
      ? ` over ${s.sendSeconds} s, ${n(total / s.sendSeconds, 2)} cores`
      : '';
    return `${label} ${n(total, 1)} CPU s (driver ${driver}, server ${server}, Redis ${redis}${cores})`;
  };
  const bare = sides.bareQueued;
  const outcome =
    bare.p99Ms > 200
      ? 'not even a server doing the least could answer'
      : 'a server doing the least answered';
  const verdict = ` The bare server's p99, with no Conveyor code and no worker, was ${n(bare.p99Ms, 1)} ms: in this run ${outcome} ${b.rate} images/s within 200 ms on this machine.`;
  return ` With no worker running, the same burst used ${use("to Conveyor's producer", sides.conveyor)}, and ${use('to the bare server queueing with plain BullMQ', bare)}.${verdict}${threadBusy(b)}`;
}

/**
 * How many cores each server's process used while its burst was sent (CPU s over the send time):
 * a Node server's JavaScript runs on one thread, so a server near one core is at its own limit.
 */
function threadBusy(b: NonNullable<BenchResults['burst']>): string {
  const busy = (cpuSeconds: number | undefined, seconds: number | undefined) =>
    cpuSeconds === undefined || !seconds ? undefined : n(cpuSeconds / seconds, 2);
  const parts = [
    ['with the worker running', busy(b.conveyor.cpuSeconds?.producer, b.conveyor.sendSeconds)],
    [
      'with none',
      busy(b.acceptOnly?.conveyor.cpuSeconds.server, b.acceptOnly?.conveyor.sendSeconds),
    ],
  ].filter((part): part is [string, string] => part[1] !== undefined);
  const bare = b.acceptOnly;
  const bareBusy = bare && busy(bare.bareQueued.cpuSeconds.server, bare.bareQueued.sendSeconds);
  if (parts.length === 0 || bareBusy === undefined) return '';
  const producer = parts.map(([when, cores]) => `${cores} cores ${when}`).join(', ');
  return ` Conveyor's producer process used ${producer}; the bare server ${bareBusy}. A Node server's JavaScript runs on one thread of its process: near one core, it queues what it cannot take yet, however many cores are left.`;
}

/** CPU ms per request of scenario 9's server, driver and Redis together. */
const cpuMsOf = (cost: { server: number; driver: number; redis: number }) =>
  cost.server + cost.driver + cost.redis;

/** What the bare server queueing with plain BullMQ (9) would need at the burst's rate. */
function queuedCost(r: BenchResults, rate: number): string {
  const cost = r.ingest?.['text-direction']?.bareQueued?.cpuMsPerRequest;
  if (!cost) return '';
  const perRequest = cpuMsOf(cost);
  return ` Even the bare server queueing each image with plain BullMQ, no Conveyor code, costs ${n(perRequest, 3)} CPU ms per request (server ${cost.server}, driver ${cost.driver}, Redis ${cost.redis}): ${n((perRequest * rate) / 1000, 2)} cores at that rate.`;
}

function scaling(r: BenchResults): string {
  const s = Object.entries(r.scaling ?? {});
  const scale =
    s.length === 0
      ? NOT_MEASURED
      : table(
          ['configuration (scenario 6)', 'jobs/s', 'event-loop p99'],
          s.map(([label, v]) => [label, v.jobsPerSecond, `${n(v.eventLoopDelayP99Ms, 1)} ms`]),
        );
  const c = Object.entries(r.concurrency ?? {});
  const levels = [...new Set(c.flatMap(([, v]) => Object.keys(v)))].sort(
    (a, b) => Number(a) - Number(b),
  );
  const sweep =
    c.length === 0
      ? NOT_MEASURED
      : table(
          ['BullMQ concurrency (scenario 7)', ...levels],
          c.map(([model, v]) => [`${model} (jobs/s)`, ...levels.map((l) => v[l])]),
        );
  return `${scale}\n\n${sweep}`;
}

const SERVERS = {
  bare: 'bare fastify',
  bareQueued: 'bare fastify queueing with plain BullMQ',
  bareJsonQueued: 'bare fastify reading the JSON, queueing it with plain BullMQ',
  conveyor: 'Conveyor producer',
} as const;

function ingest(r: BenchResults): string {
  const rows = Object.values(r.ingest ?? {}).flatMap((i) =>
    (['bare', 'bareQueued', 'bareJsonQueued', 'conveyor'] as const).flatMap((who) => {
      const s = i[who];
      if (!s) return [];
      const statuses = Object.entries(s.statuses)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ');
      return [
        [
          `${i.body} (${i.bodyBytes} bytes), ${SERVERS[who]}`,
          s.requests,
          s.requestsPerSecond,
          s.turnsPerSecond?.join(' / ') ?? 'n/a',
          n(s.p50Ms, 2),
          n(s.p99Ms, 2),
          statuses,
          s.cpuMsPerRequest
            ? `${s.cpuMsPerRequest.server} / ${s.cpuMsPerRequest.driver} / ${s.cpuMsPerRequest.redis}`
            : 'n/a',
        ],
      ];
    }),
  );
  return rows.length === 0
    ? NOT_MEASURED
    : table(
        [
          'body, server',
          'requests',
          'requests/s',
          'each turn (requests/s)',
          'p50 (ms)',
          'p99 (ms)',
          'answers',
          'CPU ms per request: server / driver / Redis',
        ],
        rows,
      );
}

/** One table of profiled processes: a column each, a row per owner that any of them used. */
function ownerTable(columns: readonly [string, CpuProfile][]): string {
  const used = OWNERS.filter((o) => columns.some(([, p]) => (p.usPerUnit[o] ?? 0) > 0));
  return table(
    ['owner', ...columns.map(([label]) => label)],
    [
      ...used.map((o) => [OWNER_LABELS[o], ...columns.map(([, p]) => n(p.usPerUnit[o] ?? 0, 1))]),
      ['total', ...columns.map(([, p]) => n(profileTotal(p), 1))],
    ],
  );
}

/** Which of the image's profiled turns the table gives (files before several were profiled: none). */
const imageTurns = (rates: readonly number[] | undefined): string =>
  rates && rates.length > 1
    ? `, the fastest of ${rates.length} profiled turns (${rates.join(', ')} jobs/s), as the share's limit keeps the fastest of its turns`
    : '';

/** `name: 12.3 of 150.0 µs (8 %)`: Conveyor's own share of a profile. */
function ownShare(name: string, p: CpuProfile): string {
  const own = p.usPerUnit.conveyor ?? 0;
  const total = profileTotal(p);
  return `${name} ${n(own, 1)} of ${n(total, 1)} µs (${n((100 * own) / Math.max(1e-9, total), 0)} %)`;
}

/** Where the compared processes' CPU went, by owner (`pnpm bench --profile`). */
function profiles(r: BenchResults): string {
  const p = r.profiles;
  const ingest = Object.entries(p?.ingest ?? {});
  if (ingest.length === 0 && !p?.worker && !p?.image)
    return "_Not profiled in this run: `pnpm bench --profile` (Linux perf) adds one more turn of scenario 9's servers and of scenario 8's workers, and three of scenario 3's image worker, each under perf._";
  const hz = ingest[0]?.[1].conveyor.hz ?? p?.worker?.conveyor.hz;
  const shares = [
    ...ingest.map(([w, sides]) => ownShare(`the producer's per ${w} request`, sides.conveyor)),
    ...(p?.worker ? [ownShare("the worker's per iris job", p.worker.conveyor)] : []),
    ...(p?.image ? [ownShare("the worker's per text-direction job", p.image.worker)] : []),
  ];
  const serverColumns = ingest.flatMap(([w, sides]): [string, CpuProfile][] => [
    [`${w}: producer`, sides.conveyor],
    [`${w}: bare server`, sides.bare],
  ]);
  const workerColumns: [string, CpuProfile][] = p?.worker
    ? [
        ["Conveyor's worker", p.worker.conveyor],
        ["plain BullMQ's no-op worker", p.worker.plain],
      ]
    : [];
  const imageColumns: [string, CpuProfile][] = p?.image
    ? [["Conveyor's text-direction worker", p.image.worker]]
    : [];
  const servers =
    serverColumns.length === 0
      ? ''
      : `\n\nScenario 9, CPU µs per request (the bare server reads the JSON too for a JSON body):\n\n${ownerTable(serverColumns)}`;
  const workers =
    workerColumns.length === 0
      ? ''
      : `\n\nScenario 8, iris, CPU µs per job:\n\n${ownerTable(workerColumns)}`;
  const image = p?.image
    ? `\n\nScenario 3, text-direction batched, CPU µs per job (Redis: ${n(p.image.redisUsPerJob, 1)} µs per job in the same turn; the inference share target reads onnxruntime's part)${imageTurns(p.image.turnsPerSecond)}:\n\n${ownerTable(imageColumns)}`
    : '';
  const libraries = [...serverColumns, ...workerColumns, ...imageColumns]
    .map(([label, profile]) => {
      const named = Object.entries(profile.otherLibraries ?? {});
      return named.length === 0
        ? undefined
        : `${label} (${named.map(([name, us]) => `${name} ${n(us, 1)}`).join(', ')})`;
    })
    .filter((line) => line !== undefined);
  const others =
    libraries.length === 0 ? '' : `\n\nOther libraries, by name (µs): ${libraries.join('; ')}.`;
  return `More turns of each process after its measured turns (one, unless its table says more), sampled by Linux perf at ${hz ?? '?'} Hz of CPU time on every thread. Each sample is charged to the nearest JavaScript frame outside Node's own modules, from the leaf up: the kernel's time in a socket write counts for the code that wrote, V8's in a JSON parse for the code that parsed; "Node and V8" is what ran with no such frame above it (the event loop, the HTTP parser, streams, collections). See scripts/bench/perf-profile.ts. Conveyor's own code: ${shares.join('; ')}.${servers}${workers}${image}${others}`;
}

function offline(r: BenchResults): string {
  const o = r.offline;
  if (!o) return NOT_MEASURED;
  const note = o.cli.finished
    ? ''
    : ` The CLI did not finish within ${o.timeLimitS} s and was stopped; its rate counts the ${o.cli.rows} rows it wrote.`;
  const runRow = (label: string, side: OfflineSide) => [
    label,
    side.rows,
    side.seconds,
    side.rowsPerSecond,
    side.peakRssMiB,
    side.exitCode ?? 'signal',
  ];
  const quarters = (side: OfflineCliSide) =>
    `peak RSS in the second quarter ${side.earlyPeakRssMiB}, in the last ${side.latePeakRssMiB}`;
  return `${o.rows} rows of iris, CSV in, JSON lines out.${note}\n\n${table(
    ['side', 'rows written', 'seconds', 'rows/s', 'peak RSS (MiB)', 'exit code'],
    [
      runRow('in-process script, batches of 64', o.inProcess),
      runRow(`\`conveyor batch\`, one worker (${quarters(o.cli)})`, o.cli),
      ...(o.memory
        ? [runRow(`\`conveyor batch\`, memory run (${quarters(o.memory)})`, o.memory)]
        : []),
    ],
  )}`;
}

function largeOutputs(r: BenchResults): string {
  const l = r.largeOutputs;
  if (!l) return NOT_MEASURED;
  return `${l.jobs} recogniser results retained (${l.failed} failed): Redis \`used_memory\` grew by ${l.usedMemoryDeltaBytes} bytes, ${l.bytesPerResult} bytes per result, against ${l.rawOutputBytes} bytes of raw output tensors per result: **${n(l.ratio, 2)}x**.${budgetRun(l.budget)}`;
}

/** Scenario 11's run through a worker with a byte budget for stored results. */
function budgetRun(b: BudgetRunResult | undefined): string {
  if (!b) return '';
  const mib = (bytes: number) => `${n(bytes / 2 ** 20, 1)} MiB`;
  return `\n\nThen ${b.jobs} more through a worker with \`RESULT_BUDGET_BYTES\` at ${mib(b.budgetBytes)}, for ${mib(b.totalOutputBytes)} of outputs in all, with Redis \`used_memory\` read ${b.samples} times over the run: it grew by at most ${mib(b.peakUsedMemoryDeltaBytes)}, **${n(b.ratio, 2)}x** the budget, and the worker accounted ${mib(b.storedBytesAtEnd)} of stored results at the end. Beside the stored results, Redis holds the jobs in flight (16 inputs of 184 KB, and the oldest results until the worker removes them, a round trip after a new one went over the budget) and the retained jobs' hashes.`;
}

function ocr(r: BenchResults): string {
  const o = r.ocr;
  if (!o) return NOT_MEASURED;
  const pages = o.images
    .map((p) => `${p.name} (${p.width}x${p.height}, ${p.bytes} bytes, ${p.lines} lines)`)
    .join(' and ');
  const side = (label: string, s: typeof o.inProcess) => [
    label,
    s.pages,
    s.seconds,
    s.pagesPerSecond,
    n(s.p50Ms, 0),
    n(s.p99Ms, 0),
    s.finished ? 'yes' : `no, stopped at ${o.timeLimitS} s`,
  ];
  const cpu = o.endToEnd.cpuSeconds;
  const note = cpu
    ? ` End to end, the driver used ${cpu.driver} CPU s and the worker ${cpu.worker}.`
    : '';
  return `${pages}, round-robin, ${o.inFlight} pages in flight.${note}\n\n${table(
    ['side', 'pages', 'seconds', 'pages/s', 'p50 (ms)', 'p99 (ms)', 'all read'],
    [
      side('in-process, `createEmbeddedClient(...).predict`', o.inProcess),
      side('end to end, SDK and one worker process', o.endToEnd),
    ],
  )}`;
}

/** The whole page for a results file, formatted as prettier formats the repository's markdown. */
export async function renderBenchmarksMd(results: BenchResults): Promise<string> {
  const sections = [
    INTRO,
    `## Latest run\n\n${latestRun(results)}`,
    `### Targets\n\n${targets(results)}\n\n${LIMITED_NOTE}`,
    `### Throughput and CPU (scenarios 1, 2, 3 and 8)\n\n${throughput(results)}`,
    `### Synchronous latency (scenarios 2 and 4)\n\n${latency(results)}`,
    `### Burst (scenario 5)\n\n${burst(results)}`,
    `### Processes, threads and concurrency (scenarios 6 and 7)\n\n${scaling(results)}`,
    `### HTTP ingest limit (scenario 9)\n\n${ingest(results)}`,
    `### Where the CPU goes (scenarios 3, 8 and 9, profiled)\n\n${profiles(results)}`,
    `### Offline (scenario 10)\n\n${offline(results)}`,
    `### Large outputs (scenario 11)\n\n${largeOutputs(results)}`,
    `### OCR pipeline (scenario 12)\n\n${ocr(results)}`,
    `### Cold start (scenario 13)\n\n${coldStart(results)}`,
    `### Shadow (scenario 14)\n\n${shadow(results)}`,
    LOAD_TESTS,
    PROFILING,
  ];
  const config = await resolveConfig(DOC_MD);
  return format(`${sections.join('\n\n')}\n`, { ...config, parser: 'markdown' });
}

function coldStart(r: BenchResults): string {
  const c = r.coldStart;
  if (!c) return NOT_MEASURED;
  const rows = Object.entries(c).map(([model, m]) => [
    model,
    m.runs,
    m.jobs,
    n(m.bootMs, 0),
    n(m.loadMs, 0),
    n(m.warmupMs, 1),
    n(m.firstResultMs, 0),
    n(m.workerRssMiB, 1),
    m.waitingJobBytes,
    m.retainedJobBytes,
  ]);
  return `Jobs queued while no worker runs, then one worker process spawned (medians of the runs). Boot: spawn to the worker's first log line; load: to \`worker ready\` (Redis, model load, warm-up); first result: spawn to the first job's result at the client. Redis bytes per waiting and per kept completed job come from \`used_memory\`.\n\n${table(
    [
      'model',
      'runs',
      'jobs',
      'boot (ms)',
      'load (ms)',
      'warm-up (ms)',
      'first result (ms)',
      'worker RSS (MiB)',
      'bytes / waiting job',
      'bytes / kept job',
    ],
    rows,
  )}`;
}

const sampledText = (s: NonNullable<BenchResults['shadow']>): string =>
  s.sampled
    ? `, ${n(s.sampled.p50Ms, 2)} ms and ${n(s.sampled.p95Ms, 2)} ms with a sample of ${s.sampled.sample} (\`SHADOW_SAMPLE\`)`
    : '';

const pacedText = (s: NonNullable<BenchResults['shadow']>): string =>
  s.paced
    ? ` Those rounds keep ${CLOSED_LOOP} requests in flight, as many as the worker can take, so every copy takes capacity from callers. Below capacity, ${s.paced.requests} requests each way at ${s.paced.perSecond} per second in an open loop (about a fifth of that rate): p50 ${n(s.paced.off.p50Ms, 2)} ms and p95 ${n(s.paced.off.p95Ms, 2)} ms without, ${n(s.paced.on.p50Ms, 2)} ms and ${n(s.paced.on.p95Ms, 2)} ms with every request copied.`
    : '';

const CLOSED_LOOP = 8;

function shadow(r: BenchResults): string {
  const s = r.shadow;
  if (!s) return NOT_MEASURED;
  return `${s.requests} iris predictions through the SDK, without and then with a shadow version on the production alias (the same worker serves both): caller p50 ${n(s.off.p50Ms, 2)} ms and p95 ${n(s.off.p95Ms, 2)} ms without, ${n(s.on.p50Ms, 2)} ms and ${n(s.on.p95Ms, 2)} ms with every request copied${sampledText(s)}; ${s.compared} copies compared.${pacedText(s)}`;
}

/** Reads docs/benchmarks.json, writes docs/benchmarks.md and the figures docs/scaling.md quotes. */
export async function writeBenchmarksDoc(): Promise<string> {
  const results = JSON.parse(await readFile(DOC_JSON, 'utf8')) as BenchResults;
  await writeFile(DOC_MD, await renderBenchmarksMd(results));
  // docs/scaling.md quotes the same results: its marked figures follow them.
  const scaling = await readFile(SCALING_MD, 'utf8');
  const rewritten = rewriteScalingPage(scaling, results as unknown as Record<string, unknown>);
  const options = await resolveConfig(SCALING_MD);
  await writeFile(SCALING_MD, await format(rewritten, { ...options, filepath: SCALING_MD }));
  return `${DOC_MD} and ${SCALING_MD}`;
}
