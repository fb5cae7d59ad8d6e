/**
 * The targets of issue 14, computed from the benchmark's JSON: each row has its value, its
 * target and whether it is met (null when a scenario it needs was not measured).
 */
import { profileTotal } from './perf-profile.js';
import type {
  BenchResults,
  AcceptOnlySide,
  BurstSide,
  EmbeddedResult,
  EndToEndResult,
  IngestResult,
  IngestSide,
  PlainBullmqResult,
  TargetRow,
} from './results.js';
import { measuredAfterIdle } from './results.js';

const NOT_MEASURED = 'not measured';

const fixed = (n: number, digits: number) => n.toFixed(digits);
/** A difference with its sign: +0.120 or −0.473. */
const signed = (n: number, digits: number) => `${n < 0 ? '−' : '+'}${fixed(Math.abs(n), digits)}`;

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0)
    return undefined;
  return a / b;
}

/**
 * A row whose value is a number compared with a bound. `limit` is what the same run measured with
 * no Conveyor code doing the same work (plain BullMQ, a bare server), in the value's terms: a row
 * not met whose limit misses the goal too says so (`limited`).
 */
function row(
  id: string,
  label: string,
  value: number | undefined,
  bound: { atLeast?: number; atMost?: number; unit?: string; limit?: number | undefined },
  detail: (v: number) => string,
): TargetRow {
  const unit = bound.unit ?? '';
  const target =
    bound.atLeast !== undefined ? `≥ ${bound.atLeast}${unit}` : `≤ ${bound.atMost ?? 0}${unit}`;
  if (value === undefined || !Number.isFinite(value))
    return { id, label, value: NOT_MEASURED, target, met: null };
  const meets = (v: number) =>
    bound.atLeast !== undefined ? v >= bound.atLeast : v <= (bound.atMost ?? 0);
  const met = meets(value);
  const limited = !met && bound.limit !== undefined && !meets(bound.limit);
  return { id, label, value: detail(value), target, met, ...(limited && { limited }) };
}

const jobsOf = (r: EndToEndResult) => r.jobs ?? Math.round(r.jobsPerSecond * r.seconds);

/** Worker plus Redis CPU milliseconds per job. */
const cpuMsPerJob = (cpu: { worker: number; redis: number }, jobs: number) =>
  ((cpu.worker + cpu.redis) * 1000) / jobs;

/** The batch size of scenario 1 nearest to `rows` (on a log scale). */
function nearestSize(sizes: readonly number[], rows: number): number | undefined {
  let best: number | undefined;
  for (const size of sizes)
    if (best === undefined || Math.abs(Math.log(size / rows)) < Math.abs(Math.log(best / rows)))
      best = size;
  return best;
}

/**
 * Scenario 1's onnxruntime in the bench's process, calls back to back, at its batch size nearest
 * to `rows`: ms per row there.
 */
export function inProcessMsPerRow(
  results: BenchResults,
  model: 'iris' | 'text-direction',
  rows: number,
): { msPerRow: number; batch: number } | undefined {
  const limit = results.limit?.[model];
  if (!limit) return undefined;
  const batch = nearestSize(Object.keys(limit.rowsPerSecondBySize).map(Number), rows);
  const rate = batch === undefined ? undefined : limit.rowsPerSecondBySize[String(batch)];
  if (batch === undefined || rate === undefined) return undefined;
  return { msPerRow: 1000 / rate, batch };
}

/** The in-process inference estimate of scenario 3's batched image run, in CPU ms per row. */
export function inferenceMsPerRow(
  results: BenchResults,
): { msPerRow: number; batch: number } | undefined {
  const e2e = results.endToEnd?.['text-direction'];
  return e2e && inProcessMsPerRow(results, 'text-direction', e2e.meanBatchRows);
}

/** A plain BullMQ turn beside the model: its worker's and Redis's CPU ms per job, the model's per row. */
interface BesideTheModel {
  worker: number;
  redis: number;
  inferenceMsPerRow: number;
  shareAtMost: number;
}

/** The largest inference share of worker+Redis CPU that a queue costing `worker` and `redis` leaves. */
const shareLeft = (inferenceMs: number, worker: number, redis: number) =>
  inferenceMs / (inferenceMs + worker + redis);

/** A turn run beside the model (8), per job, and the largest inference share it leaves. */
function besideTheModel(turn: PlainBullmqResult | undefined): BesideTheModel | undefined {
  if (!turn?.inference) return undefined;
  const worker = (turn.cpuSeconds.worker * 1000) / turn.jobs;
  const redis = (turn.cpuSeconds.redis * 1000) / turn.jobs;
  const inferenceMsPerRow = turn.inference.msPerRow;
  return {
    worker,
    redis,
    inferenceMsPerRow,
    shareAtMost: shareLeft(inferenceMsPerRow, worker, redis),
  };
}

/**
 * What plain BullMQ (8) spends per job to move the image's 110 KB through Redis with no Conveyor
 * code, in CPU ms, and the largest inference share of worker+Redis CPU that leaves: inference
 * over inference plus that floor. `beside` is the same with the model running in a process beside
 * it (files from before that turn have none): the floor and the model's own CPU per row, both as
 * they were while the other ran, which is how a worker's bytes and inference share the machine.
 * `shaped` is plain BullMQ carrying Conveyor's own image job beside the model: what the queue
 * costs for the job Conveyor writes (its retries, retention and result, the bytes kept until the
 * completion is recorded), with none of Conveyor's code (older files have none).
 */
export function imageFloor(results: BenchResults):
  | {
      driver: number;
      worker: number;
      redis: number;
      shareAtMost: number;
      beside?: BesideTheModel;
      shaped?: BesideTheModel;
    }
  | undefined {
  const p = results.plainBullmqImage;
  const inference = inferenceMsPerRow(results);
  if (!p || !inference) return undefined;
  const perJob = (seconds: number) => (seconds * 1000) / p.jobs;
  const worker = perJob(p.cpuSeconds.worker);
  const redis = perJob(p.cpuSeconds.redis);
  const beside = besideTheModel(p.besideInference);
  const shaped = besideTheModel(p.conveyorShaped);
  return {
    driver: perJob(p.cpuSeconds.driver),
    worker,
    redis,
    shareAtMost: shareLeft(inference.msPerRow, worker, redis),
    ...(beside && { beside }),
    ...(shaped && { shaped }),
  };
}

/** The share row's limits: plain BullMQ moving the same bytes (8), alone and beside the model. */
function floorText(floor: ReturnType<typeof imageFloor>): string {
  if (!floor) return '';
  const alone = `at most ${fixed(floor.shareAtMost, 3)} over plain BullMQ moving the same bytes (8)`;
  const b = floor.beside;
  if (!b) return `; ${alone}`;
  const costs = (t: BesideTheModel) =>
    `${fixed(t.worker * 1000, 1)} µs of worker and ${fixed(t.redis * 1000, 1)} of Redis per job, the model ${fixed(t.inferenceMsPerRow * 1000, 1)} µs per row meanwhile`;
  const s = floor.shaped;
  const shaped = s
    ? `, at most ${fixed(s.shareAtMost, 3)} carrying Conveyor's own job beside the model (${costs(s)})`
    : '';
  return `; ${alone} with inference measured apart, at most ${fixed(b.shareAtMost, 3)} with the model running beside it (moving the bytes ${costs(b)})${shaped}`;
}

/**
 * The image's inference share as `--profile` measured it (scenario 3's profiled turn):
 * onnxruntime's CPU per job over the worker's and Redis's in the same turn.
 */
function measuredInferenceShare(results: BenchResults) {
  const image = results.profiles?.image;
  if (!image) return undefined;
  const onnxruntimeUs = image.worker.usPerUnit.onnxruntime ?? 0;
  const workerUs = profileTotal(image.worker);
  const redisUs = image.redisUsPerJob;
  return { share: onnxruntimeUs / (workerUs + redisUs), onnxruntimeUs, workerUs, redisUs };
}

/**
 * The most Conveyor's producer could reach against bare fastify (9): the bare server queueing with
 * plain BullMQ, reading the JSON too when the body is JSON (Conveyor must read it).
 */
function ingestLimit(ingest: IngestResult): number | undefined {
  return ratio(
    (ingest.bareJsonQueued ?? ingest.bareQueued)?.requestsPerSecond,
    ingest.bare.requestsPerSecond,
  );
}

/**
 * What a call costs in the bench's process after an idle gap, as a worker's calls come at low
 * load, against back to back (scenario 4's embedded measures); empty for older files.
 */
function afterIdle(e: EmbeddedResult | undefined): string {
  if (!measuredAfterIdle(e)) return '';
  return `; in the bench's process after ${e.idleGapMs} ms idle, onnxruntime's run ${e.rawAfterIdleP50Ms} ms (${e.rawP50Ms} back to back) and the embedded predict ${e.embeddedAfterIdleP50Ms} ms (${e.embeddedP50Ms})`;
}

/** What the bare server reaches, against bare fastify, queueing with plain BullMQ (9). */
function floors(ingest: IngestResult): string {
  const of = (side: IngestSide | undefined) =>
    side ? fixed(side.requestsPerSecond / ingest.bare.requestsPerSecond, 3) : undefined;
  const queued = of(ingest.bareQueued);
  const read = of(ingest.bareJsonQueued);
  return [
    queued && `; bare fastify queueing with plain BullMQ: ${queued}`,
    read && `, reading the JSON too: ${read}`,
  ]
    .filter(Boolean)
    .join('');
}

/**
 * The image rate one inference thread allows at the time onnxruntime itself took per job end to
 * end (3; each call's `runMs` over its rows, on the thread, none of Conveyor's code), over the
 * in-process best: the bound the image target meets while the worker's thread is never idle.
 */
export function imageRunBound(
  results: BenchResults,
): { runMsPerJob: number; jobsPerSecond: number; overBest: number } | undefined {
  const runUs = results.endToEnd?.['text-direction']?.runUsPerJob;
  const best = imageInProcessBest(results)?.rowsPerSecond;
  if (!runUs || !best) return undefined;
  const jobsPerSecond = 1e6 / runUs;
  return { runMsPerJob: runUs / 1000, jobsPerSecond, overBest: jobsPerSecond / best };
}

/**
 * The image model's in-process best, the image target's other side: the in-process turns that
 * alternated with the drive (3), or scenario 1's best in older files.
 */
export function imageInProcessBest(
  results: BenchResults,
): { rowsPerSecond: number; batch: number } | undefined {
  const limit = results.limit?.['text-direction'];
  return (
    results.endToEnd?.['text-direction']?.inProcess ??
    (limit && { rowsPerSecond: limit.bestRowsPerSecond, batch: limit.bestBatch })
  );
}

/**
 * The median over rounds of one side's rate over the other's in the same round (the turns of
 * fastestOfAlternating, in round order): a figure the host's busy moments move less than the ratio
 * of the two fastest turns, which may come from different rounds.
 */
export function pairedMedian(
  over: readonly number[] | undefined,
  under: readonly number[] | undefined,
): number | undefined {
  if (!over || !under || over.length === 0 || over.length !== under.length) return undefined;
  const ratios = over.map((rate, i) => rate / under[i]!).sort((a, b) => a - b);
  const mid = Math.floor(ratios.length / 2);
  return ratios.length % 2 === 1 ? ratios[mid] : (ratios[mid - 1]! + ratios[mid]!) / 2;
}

/** The iris target: Conveyor's end-to-end rate over plain BullMQ's round trip, at least. */
export const IRIS_OVER_PLAIN_GOAL = 0.8;

/** Every target of issue 14, in a fixed order. */
export function targetRows(results: BenchResults): TargetRow[] {
  const e2e = results.endToEnd ?? {};
  const plain = results.plainBullmq;
  // The iris drive alternating with plain BullMQ's turns (8), or scenario 3's in older files.
  const iris = plain?.conveyor ?? e2e.iris;
  const image = e2e['text-direction'];
  const rows: TargetRow[] = [];

  rows.push(
    row(
      'iris-over-plain',
      'iris end to end / plain BullMQ round trip, alternating turns (8), jobs/s',
      ratio(iris?.jobsPerSecond, plain?.jobsPerSecond),
      {
        atLeast: IRIS_OVER_PLAIN_GOAL,
        limit: ratio(plain?.conveyorShaped?.jobsPerSecond, plain?.jobsPerSecond),
      },
      (v) => {
        const paired = pairedMedian(plain?.conveyor?.turnsPerSecond, plain?.turnsPerSecond);
        const rounds =
          paired === undefined ? '' : `; median of the rounds' ratios ${fixed(paired, 3)}`;
        const shaped = ratio(plain?.conveyorShaped?.jobsPerSecond, plain?.jobsPerSecond);
        const shape =
          shaped === undefined
            ? ''
            : `; plain BullMQ carrying Conveyor's job, no Conveyor code: ${fixed(shaped, 3)}`;
        return `${fixed(v, 3)} (${iris?.jobsPerSecond} / ${plain?.jobsPerSecond}${rounds}${shape})`;
      },
    ),
  );
  const irisCpu = iris && cpuMsPerJob(iris.cpuSeconds, jobsOf(iris));
  const plainCpu = plain && cpuMsPerJob(plain.cpuSeconds, plain.jobs);
  rows.push(
    row(
      'iris-cpu-over-plain',
      'worker+Redis CPU per job, iris / plain BullMQ, alternating turns (8)',
      ratio(irisCpu, plainCpu),
      { atMost: 1.3 },
      (v) => `${fixed(v, 2)} (${fixed(irisCpu ?? 0, 3)} / ${fixed(plainCpu ?? 0, 3)} ms)`,
    ),
  );
  const best = imageInProcessBest(results);
  rows.push(
    row(
      'image-over-limit',
      'text-direction end to end / in-process best, alternating turns (3)',
      ratio(image?.jobsPerSecond, best?.rowsPerSecond),
      { atLeast: 0.75 },
      (v) => {
        const bound = imageRunBound(results);
        const atMost = bound
          ? `; onnxruntime's own ${fixed(bound.runMsPerJob, 3)} ms per job in the worker allows at most ${fixed(bound.overBest, 3)}`
          : '';
        const paired = pairedMedian(image?.turnsPerSecond, image?.inProcess?.turnsPerSecond);
        const rounds =
          paired === undefined ? '' : `; median of the rounds' ratios ${fixed(paired, 3)}`;
        return `${fixed(v, 3)} (${image?.jobsPerSecond} jobs/s / ${best?.rowsPerSecond} rows/s at batch ${best?.batch}${rounds}${atMost})`;
      },
    ),
  );
  const inference = inferenceMsPerRow(results);
  const imageJobs = image && jobsOf(image);
  const imageCpuMs = image && (image.cpuSeconds.worker + image.cpuSeconds.redis) * 1000;
  const bytesFloor = imageFloor(results);
  const estimated =
    inference && imageJobs !== undefined
      ? ratio(imageJobs * inference.msPerRow, imageCpuMs)
      : undefined;
  const estimate = `${imageJobs} rows × ${fixed(inference?.msPerRow ?? 0, 3)} ms, in-process at batch ${inference?.batch}, over ${fixed((imageCpuMs ?? 0) / 1000, 2)} s`;
  const measured = measuredInferenceShare(results);
  rows.push(
    row(
      'image-inference-share',
      'text-direction inference CPU / (worker+Redis CPU) (3)',
      // An estimate above 1 mixes host speeds (scenario 1 ran in a slower moment than 3): none.
      measured?.share ?? (estimated !== undefined && estimated <= 1 ? estimated : undefined),
      // BullMQ carrying Conveyor's job beside the model; older files: the bytes beside it, or alone.
      {
        atLeast: 0.7,
        limit:
          bytesFloor?.shaped?.shareAtMost ??
          bytesFloor?.beside?.shareAtMost ??
          bytesFloor?.shareAtMost,
      },
      (v) =>
        `${fixed(v, 3)} (${measured ? `measured by perf: onnxruntime ${fixed(measured.onnxruntimeUs, 1)} µs per job, of the worker's ${fixed(measured.workerUs, 1)} and Redis's ${fixed(measured.redisUs, 1)}; scenario 1 estimated ${estimate}: ${fixed(estimated ?? Number.NaN, 3)}` : `estimated: ${estimate}`}${floorText(bytesFloor)})`,
    ),
  );
  const sync = results.latency?.iris;
  // Older runs timed the floor in scenario 2 only, minutes apart from scenario 4.
  const floor = sync?.floorP50Ms ?? results.queueLimit?.syncP50Ms;
  rows.push(
    row(
      'sdk-over-floor',
      'SDK sync p50 − queue floor p50, in turn (4), iris',
      sync && floor !== undefined ? sync.sdkP50Ms - floor : undefined,
      { atMost: 0.5, unit: ' ms' },
      (v) =>
        `${signed(v, 3)} ms (${sync?.sdkP50Ms} over ${floor} ms${sync?.workerInferenceP50Ms === undefined ? '' : `; the worker's engine.predict p50 ${sync.workerInferenceP50Ms} ms${sync.workerRunP50Ms === undefined ? '' : `, onnxruntime's run in it ${sync.workerRunP50Ms} ms`}`}${afterIdle(results.embedded)})`,
    ),
  );
  rows.push(
    row(
      'http-over-sdk',
      'HTTP sync p50 − SDK sync p50 (4), iris',
      sync ? sync.httpP50Ms - sync.sdkP50Ms : undefined,
      // What HTTP adds can be no less than a round trip to a server that answers at once.
      { atMost: 0.7, unit: ' ms', limit: sync?.hopP50Ms },
      (v) =>
        `${signed(v, 3)} ms (${sync?.httpP50Ms} over ${sync?.sdkP50Ms} ms${sync?.hopP50Ms === undefined ? '' : `; a bare fastify round trip: ${sync.hopP50Ms} ms`})`,
    ),
  );
  const embedded = results.embedded;
  for (const [p, bound] of [
    ['50', 0.05],
    ['99', 0.5],
  ] as const) {
    const own = embedded && (p === '50' ? embedded.embeddedP50Ms : embedded.embeddedP99Ms);
    const raw = embedded && (p === '50' ? embedded.rawP50Ms : embedded.rawP99Ms);
    rows.push(
      row(
        `embedded-p${p}`,
        `embedded predict p${p} − onnxruntime session.run p${p} (4), iris`,
        own !== undefined && raw !== undefined ? own - raw : undefined,
        { atMost: bound, unit: ' ms' },
        (v) => `${signed(v, 4)} ms (${own} over ${raw} ms)`,
      ),
    );
  }
  const burst = results.burst?.conveyor;
  rows.push(
    row(
      'burst-p99',
      `burst at 3x capacity (5): Conveyor 202 p99`,
      burst?.p99Ms,
      // The same work with no Conveyor code (the bare server queueing with plain BullMQ, a plain
      // worker running the model; older files: the bare server with no worker running): a goal it
      // misses is past what this machine allows.
      { atMost: 200, unit: ' ms', limit: burstLimitP99(results.burst) },
      (v) =>
        `${fixed(v, 1)} ms (p50 ${burst?.p50Ms} ms${otherBurstsP99(burst)}${warmUpP99(burst)})${plainQueuedP99(results.burst)}${acceptOnlyP99(results.burst)}`,
    ),
  );
  const all = burst && [
    burst,
    ...(burst.otherBursts ?? []),
    ...(burst.warmUpBurst ? [burst.warmUpBurst] : []),
  ];
  rows.push(
    row(
      'burst-lost',
      'burst at 3x capacity (5): accepted jobs lost',
      all?.reduce((sum, b) => sum + (b.lost ?? 0), 0),
      { atMost: 0 },
      (v) => `${v} of ${all?.reduce((sum, b) => sum + b.accepted, 0)} accepted`,
    ),
  );
  for (const [workload, ingest] of Object.entries(results.ingest ?? { iris: undefined })) {
    rows.push(
      row(
        `ingest-${workload}`,
        `HTTP ingest (9), ${ingest?.body ?? workload}: Conveyor 202 / bare fastify 202`,
        ratio(ingest?.conveyor.requestsPerSecond, ingest?.bare.requestsPerSecond),
        { atLeast: 0.6, limit: ingest && ingestLimit(ingest) },
        (v) =>
          `${fixed(v, 3)} (${ingest?.conveyor.requestsPerSecond} / ${ingest?.bare.requestsPerSecond} requests/s${ingest ? floors(ingest) : ''})`,
      ),
    );
  }
  const offline = results.offline;
  rows.push(
    row(
      'offline-ratio',
      'offline (10): conveyor batch / in-process script, rows/s',
      ratio(offline?.cli.rowsPerSecond, offline?.inProcess.rowsPerSecond),
      { atLeast: 0.5 },
      (v) =>
        `${fixed(v, 3)} (${offline?.cli.rowsPerSecond} / ${offline?.inProcess.rowsPerSecond}${
          offline?.cli.finished === false
            ? `; stopped at ${offline.timeLimitS} s after ${offline.cli.rows} of ${offline.rows} rows`
            : ''
        })`,
    ),
  );
  // Runs saved before the memory run measured the flatness on the 1,000,000 rows' run.
  const memory = offline?.memory ?? offline?.cli;
  rows.push(
    row(
      'offline-memory',
      'offline (10): CLI peak RSS, last quarter / second quarter (flat)',
      ratio(memory?.latePeakRssMiB, memory?.earlyPeakRssMiB),
      { atMost: 1.1 },
      (v) =>
        `${fixed(v, 2)} (${memory?.latePeakRssMiB} / ${memory?.earlyPeakRssMiB} MiB, peak ${memory?.peakRssMiB} MiB over ${memory?.rows} rows${offline?.memory ? ', its memory run' : ''})`,
    ),
  );
  const large = results.largeOutputs;
  rows.push(
    row(
      'large-outputs',
      'large outputs (11): Redis bytes per retained result / raw output bytes',
      large?.ratio,
      { atMost: 1.1 },
      (v) =>
        `${fixed(v, 2)} (${large?.bytesPerResult} / ${large?.rawOutputBytes} bytes, ${large?.jobs} results)`,
    ),
  );
  const budget = large?.budget;
  const mib = (bytes: number) => `${fixed(bytes / 2 ** 20, 1)} MiB`;
  rows.push(
    row(
      'large-outputs-budget',
      `large outputs (11): Redis memory growth at its peak over ${budget?.jobs ?? 'N'} recogniser jobs / RESULT_BUDGET_BYTES`,
      budget?.ratio,
      // The budget bounds stored results; beside them Redis holds the jobs in flight (inputs, and
      // the oldest results until their removal a round trip later) and the retained jobs' hashes.
      { atMost: 1.1 },
      (v) =>
        `${fixed(v, 2)} (${mib(budget!.peakUsedMemoryDeltaBytes)} / ${mib(budget!.budgetBytes)}, for ${mib(budget!.totalOutputBytes)} of outputs; stored results at the end ${mib(budget!.storedBytesAtEnd)})`,
    ),
  );
  const ocr = results.ocr;
  rows.push(
    row(
      'ocr-over-in-process',
      'ocr pipeline (12): end to end / in-process, pages/s (goal: issue 14 image target)',
      ratio(ocr?.endToEnd.pagesPerSecond, ocr?.inProcess.pagesPerSecond),
      { atLeast: 0.75 },
      (v) =>
        `${fixed(v, 3)} (${ocr?.endToEnd.pagesPerSecond} / ${ocr?.inProcess.pagesPerSecond} pages/s, ${ocr?.inFlight} in flight)`,
    ),
  );
  rows.push(shadowRow(results));
  return rows;
}

/**
 * Issue 18's shadow goal, the caller's latency with a shadow on not worse than without beyond
 * noise: open-loop p50 with / without, against the spread of the rounds without (their largest
 * p50 over their smallest), and never tighter than 1.05.
 */
function shadowRow(results: BenchResults): TargetRow {
  const paced = results.shadow?.paced;
  const offRounds = paced?.roundP50Ms?.off ?? [];
  const noise = offRounds.length > 1 ? Math.max(...offRounds) / Math.min(...offRounds) : 1;
  const bound = Math.max(1.05, Number(fixed(noise, 2)));
  return row(
    'shadow-caller-p50',
    'shadow (14), open loop below capacity: caller p50 with / without (goal: issue 18, bound = the rounds without, largest / smallest p50)',
    ratio(paced?.on.p50Ms, paced?.off.p50Ms),
    { atMost: bound },
    (v) => `${fixed(v, 2)} (${paced?.on.p50Ms} / ${paced?.off.p50Ms} ms, ${paced?.perSecond}/s)`,
  );
}

/** "met", "not met", "limit below goal" (see `row`) or "not measured". */
export const verdict = (r: TargetRow): string =>
  r.met === null ? NOT_MEASURED : r.met ? 'met' : r.limited ? 'limit below goal' : 'not met';

/** The targets as a plain text table for the terminal. */
export function targetsText(rows: readonly TargetRow[]): string {
  const cells = rows.map((r) => [r.label, r.value, r.target, verdict(r)]);
  const widths = [0, 1, 2].map((i) => Math.max(...cells.map((c) => (c[i] ?? '').length)));
  return cells
    .map((c) => c.map((cell, i) => (i < 3 ? cell.padEnd(widths[i] ?? 0) : cell)).join('  '))
    .join('\n');
}

/** The p99 of the bursts Conveyor's side ran besides the one kept (5). */
function otherBurstsP99(burst: BurstSide | undefined): string {
  const others = burst?.otherBursts ?? [];
  if (others.length === 0) return '';
  const p99s = others.map((b) => `${fixed(b.p99Ms, 1)} ms`).join(', ');
  const whose = others.length === 1 ? "the other's" : "the others'";
  return `; the better of ${others.length + 1} bursts, ${whose} p99 ${p99s}`;
}

/** The p99 of the burst a side took first, not measured (5). */
function warmUpP99(burst: BurstSide | undefined): string {
  const warm = burst?.warmUpBurst;
  return warm ? `; after a first burst not measured, p99 ${fixed(warm.p99Ms, 1)} ms` : '';
}

/** The burst's p99 with no Conveyor code: the plain pipeline's with a worker, else with none. */
const burstLimitP99 = (burst: BenchResults['burst']): number | undefined =>
  burst?.plainQueued?.p99Ms ?? burst?.acceptOnly?.bareQueued.p99Ms;

/** The p99s of the bare server with a plain BullMQ worker running the model, as in the table. */
function plainQueuedP99(burst: BenchResults['burst']): string {
  const plain = burst?.plainQueued;
  if (!plain) return '';
  const others = (plain.otherBursts ?? []).map((b) => `${fixed(b.p99Ms, 1)} ms`);
  return `; the same work with no Conveyor code (bare fastify queueing with plain BullMQ, a plain BullMQ worker running the model): ${fixed(plain.p99Ms, 1)} ms${others.length > 0 ? ` (other: ${others.join(', ')})` : ''}`;
}

/** The burst's p99 with no worker running, Conveyor's producer and the bare server (5). */
function acceptOnlyP99(burst: BenchResults['burst']): string {
  const sides = burst?.acceptOnly;
  if (!sides) return '';
  const side = (s: AcceptOnlySide) => {
    const others = (s.otherBursts ?? []).map((b) => `${fixed(b.p99Ms, 1)} ms`);
    return `${fixed(s.p99Ms, 1)} ms${others.length > 0 ? ` (other: ${others.join(', ')})` : ''}`;
  };
  const rounds = sides.conveyor.otherBursts?.length
    ? `, the better of ${sides.conveyor.otherBursts.length + 1} bursts each`
    : '';
  return `; no worker running${rounds}: Conveyor ${side(sides.conveyor)}, bare fastify queueing with plain BullMQ ${side(sides.bareQueued)}`;
}
