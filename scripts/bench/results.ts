/**
 * The shape of the benchmark's JSON (bench-results/latest.json, docs/benchmarks.json). Every
 * scenario is optional: `--only` runs some, and an older file may predate a scenario; the report
 * says "not measured" for what is missing.
 */

/** Scenario 1: onnxruntime-node in the benchmark's process. */
export interface LimitResult {
  rowsPerSecondBySize: Record<string, number>;
  batch1RowsPerSecond: number;
  bestBatch: number;
  bestRowsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** CPU seconds (user + system) of the driver (this process), the worker(s) and Redis. */
export interface CpuSeconds {
  driver: number;
  worker: number;
  redis: number;
  /**
   * The part of `worker` its main thread took, the JavaScript (absent from older files and from
   * the scenarios that do not split it); the rest went to its other threads (see cpu.ts).
   */
  workerMainThread?: number;
}

/** Scenario 2: the SDK against a no-op BullMQ worker. */
export interface QueueLimitResult {
  jobsPerSecond: number;
  failed: number;
  syncP50Ms: number;
  syncP99Ms: number;
}

/** Per job, the calls and µs of each command Redis ran in a turn, the costliest first. */
export type RedisCommandsPerJob = Record<string, { calls: number; us: number }>;

/** Scenario 3: one model end to end through the SDK and one worker. */
export interface EndToEndResult {
  /** Jobs sent (absent from older files: jobsPerSecond x seconds). */
  jobs?: number;
  jobsPerSecond: number;
  failed: number;
  meanBatchRows: number;
  /**
   * onnxruntime's own µs per job: each job's share of the call it ran in (its result's `runMs`
   * over `batchRows`), averaged (absent from older files).
   */
  runUsPerJob?: number;
  /** Rows per onnxruntime call, averaged over calls (absent from older files). */
  rowsPerCall?: number;
  seconds: number;
  cpuSeconds: CpuSeconds;
  /** Redis's share of `cpuSeconds.redis` spent in the kernel, and its minor page faults. */
  redisKernel?: { systemSeconds: number; minorFaults: number };
  /** The rate of each turn; the other figures are the fastest turn's. */
  turnsPerSecond?: number[];
  /**
   * text-direction only: onnxruntime in the bench's process at scenario 1's best batch, in turns
   * alternating with these (the image target's other side; absent from older files).
   */
  inProcess?: { batch: number; rowsPerSecond: number; turnsPerSecond: number[] };
  /** Scenario 8's iris turns only: the commands Redis ran per job (absent from older files). */
  redisCommands?: RedisCommandsPerJob;
}

/** Scenario 4: synchronous predict, one at a time. */
export interface LatencyResult {
  rawP50Ms?: number;
  rawP99Ms?: number;
  /** The queue floor (scenario 2's no-op worker), timed in turn with the SDK and HTTP calls. */
  floorP50Ms?: number;
  /** The same infer body posted to a bare fastify server (202 at once), timed in turn too. */
  hopP50Ms?: number;
  sdkP50Ms: number;
  sdkP99Ms: number;
  /** Of the SDK calls: the worker's engine.predict p50 (timings.inferenceMs), in ms. */
  workerInferenceP50Ms?: number;
  /** Of the SDK calls: onnxruntime's own run p50 in the worker (timings.runMs), in ms. */
  workerRunP50Ms?: number;
  httpP50Ms: number;
  httpP99Ms: number;
}

/** Scenario 4, embedded: `createEmbeddedClient().predict` against `session.run`, same process. */
export interface EmbeddedResult {
  model: string;
  samples: number;
  rawP50Ms: number;
  rawP99Ms: number;
  embeddedP50Ms: number;
  embeddedP99Ms: number;
  /** The idle time before each call of the measures below, in ms (absent from older files). */
  idleGapMs?: number;
  /** Calls of each after an idle gap. */
  idleSamples?: number;
  /** `session.run` p50 when each call follows `idleGapMs` of idling. */
  rawAfterIdleP50Ms?: number;
  /** The embedded client's `predict` p50 when each call follows `idleGapMs` of idling. */
  embeddedAfterIdleP50Ms?: number;
}

/** The idle-gap fields of an EmbeddedResult, all present. */
type AfterIdle = Required<
  Pick<EmbeddedResult, 'idleGapMs' | 'idleSamples' | 'rawAfterIdleP50Ms' | 'embeddedAfterIdleP50Ms'>
>;

/** Whether a run measured calls after an idle gap (files saved before it was measured did not). */
export const measuredAfterIdle = (e: EmbeddedResult | undefined): e is EmbeddedResult & AfterIdle =>
  e?.idleGapMs !== undefined &&
  e.idleSamples !== undefined &&
  e.rawAfterIdleP50Ms !== undefined &&
  e.embeddedAfterIdleP50Ms !== undefined;

/** A burst's counts and latencies, as a side keeps its bursts besides the one it reports. */
export interface BurstCounts {
  accepted: number;
  p50Ms: number;
  p99Ms: number;
  lost: number;
}

/** One side of scenario 5's burst. */
export interface BurstSide {
  accepted: number;
  refused: number;
  timeouts: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  errorCauses: Record<string, number>;
  completed?: number;
  failed?: number;
  lost?: number;
  drainSeconds: number;
  /** Seconds from the first request sent to the last answer (or timeout). */
  sendSeconds?: number;
  /** CPU seconds each process used over sendSeconds (Conveyor's side only). */
  cpuSeconds?: { driver: number; producer: number; worker: number; redis: number };
  /**
   * Conveyor's side only: the bursts it ran besides the one kept, the one with the lower p99
   * (absent from older files, which ran one).
   */
  otherBursts?: BurstCounts[];
  /**
   * The unmeasured burst each side takes first, at the same rate (absent from older files): its
   * p99 is no measure of the server, its lost jobs count with the others'.
   */
  warmUpBurst?: BurstCounts;
}

/** Scenario 5. */
export interface BurstResult {
  workload: string;
  rate: number;
  total: number;
  timeoutMs: number;
  /** Requests each server was warmed up with before its burst (absent from older files: none). */
  warmRequests?: number;
  conveyor: BurstSide;
  /**
   * The same burst to the bare fastify server of scenario 9 queueing each image with plain BullMQ,
   * with a plain BullMQ worker running the model behind it (absent from older files): the same
   * work with no Conveyor code.
   */
  plainQueued?: BurstSide;
  naive: BurstSide;
  /**
   * The same burst with no worker running, so that accepting has the cores to itself (absent from
   * older files): what accepting these requests alone costs, whatever runs the jobs later.
   */
  acceptOnly?: {
    /** Conveyor's producer. */
    conveyor: AcceptOnlySide;
    /** The bare fastify server of scenario 9 queueing each image with plain BullMQ. */
    bareQueued: AcceptOnlySide;
  };
}

/** One side of the burst with no worker running; `lost` counts accepted jobs not in the queue. */
export interface AcceptOnlySide extends Omit<BurstSide, 'cpuSeconds'> {
  /** CPU seconds each process used over sendSeconds; `server` is the HTTP server's. */
  cpuSeconds: { driver: number; server: number; redis: number };
}

/**
 * One process's CPU by owner over a profiled turn (see perf-profile.ts): `usPerUnit` is CPU µs per
 * request or job, by owner.
 */
export interface CpuProfile {
  /** perf's samples per CPU second. */
  hz: number;
  /** Requests or jobs in the profiled turn. */
  units: number;
  samples: number;
  usPerUnit: Record<string, number>;
  /** Of `usPerUnit.otherLibraries`: the libraries that took most, by name (absent from older files). */
  otherLibraries?: Record<string, number>;
}

/** Profiled turns of `pnpm bench --profile`. */
export interface Profiles {
  /**
   * Scenario 9, by workload: Conveyor's producer and the bare server queueing with plain BullMQ
   * (reading the JSON too, for a JSON body), per request.
   */
  ingest?: Record<string, { conveyor: CpuProfile; bare: CpuProfile }>;
  /**
   * Scenario 3, text-direction batched: the worker per job, and Redis's CPU per job in the same
   * turn: onnxruntime's share of worker+Redis CPU, measured; the fastest of the profiled turns,
   * whose rates `turnsPerSecond` gives (older files profiled one turn and have none).
   */
  image?: { worker: CpuProfile; redisUsPerJob: number; turnsPerSecond?: number[] };
  /** Scenario 8, iris: Conveyor's worker and plain BullMQ's no-op worker, per job. */
  worker?: { conveyor: CpuProfile; plain: CpuProfile };
}

/** Scenario 6: one configuration of processes and threads. */
export interface ScalingResult {
  jobsPerSecond: number;
  eventLoopDelayP99Ms: number;
}

/** Scenario 8: BullMQ alone, no Conveyor code. */
export interface PlainBullmqResult {
  jobs: number;
  window: number;
  jobsPerSecond: number;
  seconds: number;
  cpuSeconds: CpuSeconds;
  /** The rate of each turn; the other figures are the fastest turn's. */
  turnsPerSecond?: number[];
  /**
   * Conveyor's iris end to end (scenario 3's drive) in turns alternating with these, on the same
   * Redis: the side the iris targets compare (absent from older files, and from the image run).
   */
  conveyor?: EndToEndResult;
  /**
   * Plain BullMQ carrying Conveyor's own job (its id, options, payload and return value), in the
   * same alternating turns: the queue's share of Conveyor's cost, with none of its code. The image
   * run's carries Conveyor's image job beside the model (as besideInference), its bytes kept until
   * the job's completion is recorded, as a Conveyor worker keeps them (absent from older files).
   */
  conveyorShaped?: PlainBullmqResult;
  /** The iris turns only: the commands Redis ran per job (absent from older files). */
  redisCommands?: RedisCommandsPerJob;
  /**
   * The image run only: the same turns with onnxruntime running the model in a process beside
   * them, in rounds alternating with these (absent from older files).
   */
  besideInference?: PlainBullmqResult;
  /** A turn beside inference: the rows of each call, and the model's CPU ms per row meanwhile. */
  inference?: { batch: number; msPerRow: number };
}

/** One side of scenario 9: a fixed number of requests at a fixed concurrency. */
export interface IngestSide {
  requests: number;
  concurrency: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers by HTTP status, and "error" for a failed request. */
  statuses: Record<string, number>;
  /** CPU ms per request of the server, the load's driver and Redis (scenario 9). */
  cpuMsPerRequest?: { server: number; driver: number; redis: number };
  /** Redis's minor page faults per request: fresh memory for what the requests store. */
  redisFaultsPerRequest?: number;
  /** Scenario 9: the rate of each turn; the side's other figures are its fastest turn's. */
  turnsPerSecond?: number[];
}

/** Scenario 9 for one request body. */
export interface IngestResult {
  body: string;
  bodyBytes: number;
  bare: IngestSide;
  /** The bare server queueing each body with plain BullMQ first (no Conveyor code). */
  bareQueued?: IngestSide;
  /**
   * JSON bodies: the bare server reading the JSON (fastify's own parser, as the producer's) and
   * queueing what it read with plain BullMQ: the least a server that reads JSON does.
   */
  bareJsonQueued?: IngestSide;
  conveyor: IngestSide;
}

/** One side of scenario 10. */
export interface OfflineSide {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  peakRssMiB: number;
  exitCode: number | null;
}

/** A `conveyor batch` run of scenario 10. */
export interface OfflineCliSide extends OfflineSide {
  /** Whether the CLI finished within the time limit; if not, rows/s counts the rows it wrote. */
  finished: boolean;
  /** Peak RSS in the second quarter of the run (the first is start-up) and in the last, MiB. */
  earlyPeakRssMiB: number;
  latePeakRssMiB: number;
}

/** Scenario 10: `conveyor batch` through the queue against an in-process script. */
export interface OfflineResult {
  rows: number;
  timeLimitS: number;
  inProcess: OfflineSide;
  cli: OfflineCliSide;
  /**
   * A second CLI run over MEMORY_RUN_TIMES as many rows, for the flatness of its RSS: the 1,000,000
   * rows take about 3 s on a fast host, and RSS still climbs for about 2 s after start-up while the
   * heap's pages are first touched. Absent from runs saved before it was added.
   */
  memory?: OfflineCliSide;
}

/** Scenario 11: Redis memory per retained recogniser result. */
export interface LargeOutputsResult {
  jobs: number;
  failed: number;
  rawOutputBytes: number;
  usedMemoryDeltaBytes: number;
  bytesPerResult: number;
  ratio: number;
  /** The run under a byte budget (absent from runs saved before it was added). */
  budget?: BudgetRunResult;
}

/**
 * Scenario 11's run of many recogniser jobs through a worker with RESULT_BUDGET_BYTES far below
 * their outputs together.
 */
export interface BudgetRunResult {
  /** Every one completed: a run in which any failed throws. */
  jobs: number;
  budgetBytes: number;
  /** Raw output bytes of all the jobs: what Redis would hold with no budget. */
  totalOutputBytes: number;
  /** The largest growth of Redis `used_memory` over the run (sampled every 50 ms). */
  peakUsedMemoryDeltaBytes: number;
  /** How many times `used_memory` was read. */
  samples: number;
  /** Stored result bytes the worker accounted at the end (the queue's `cv-result-bytes`). */
  storedBytesAtEnd: number;
  /** peakUsedMemoryDeltaBytes / budgetBytes. */
  ratio: number;
}

/** One page image of scenario 12. */
export interface OcrPageInfo {
  name: string;
  width: number;
  height: number;
  bytes: number;
  /** Lines the pipeline found on it (the same on both sides). */
  lines: number;
}

/** One side of scenario 12: pages read at a bounded number in flight. */
export interface OcrSide {
  pages: number;
  seconds: number;
  pagesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Whether every page was read within the time limit; if not, pages/s counts those read. */
  finished: boolean;
  /** End to end only: CPU seconds of the driver (this process) and the worker. */
  cpuSeconds?: { driver: number; worker: number };
}

/** Scenario 12: the ocr pipeline end to end through the queue against the same one in-process. */
export interface OcrResult {
  /** The pages, sent round-robin in this order. */
  images: OcrPageInfo[];
  inFlight: number;
  timeLimitS: number;
  inProcess: OcrSide;
  endToEnd: OcrSide;
}

/** One row of the targets table: the value, the target and whether it is met (null: not measured). */
export interface TargetRow {
  id: string;
  label: string;
  value: string;
  target: string;
  met: boolean | null;
  /**
   * Not met, and what the same run measured with no Conveyor code doing the same work (plain
   * BullMQ, a bare server) misses the goal too: the machine's limit, not Conveyor's.
   */
  limited?: true;
}

/** What the benchmark ran on. */
export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  platform: string;
  redis?: string;
  /**
   * The Redis's `hash-max-listpack-value` (docs/operations.md): 1024 as Conveyor ships it, 64 at
   * Redis's default, which stores each job's hash as a hash table. Absent in runs before it was
   * read.
   */
  redisHashValueBytes?: number;
}

/** The whole JSON file. */
/** One model's cold start; times are medians over the runs, in ms. */
export interface ColdStartResult {
  runs: number;
  /** Jobs queued before the spawn, all completed before the worker stops. */
  jobs: number;
  /** Spawn to the worker's first log line: node's start and module loading (tsx here). */
  bootMs: number;
  /** First log line to `worker ready`: Redis, model load, warm-up, consumers started. */
  loadMs: number;
  /** The warm-up run alone, as the worker's `model loaded` record gives it. */
  warmupMs: number;
  /** Spawn to the first queued job's result at the client: what a caller waits for. */
  firstResultMs: number;
  /** Redis `used_memory` growth per queued (waiting) job, payload included. */
  waitingJobBytes: number;
  /** Redis `used_memory` growth per completed job kept (KEEP_COMPLETED_*), result included. */
  retainedJobBytes: number;
  /** The worker's resident memory after serving the jobs, MiB (the largest run). */
  workerRssMiB: number;
}

/** Caller latency with and without a shadow, ms. */
export interface ShadowResult {
  requests: number;
  off: { p50Ms: number; p95Ms: number };
  on: { p50Ms: number; p95Ms: number };
  /** With a client that copies only a sample of the requests (SHADOW_SAMPLE). */
  sampled?: { sample: number; p50Ms: number; p95Ms: number };
  /** Copies compared by the end of the shadow rounds. */
  compared: number;
  /** The same without and with the shadow, in an open loop at a rate below the worker's capacity. */
  paced?: {
    perSecond: number;
    requests: number;
    off: { p50Ms: number; p95Ms: number };
    on: { p50Ms: number; p95Ms: number };
    /** Each round's p50, without and with: the spread of the rounds without is the noise. */
    roundP50Ms?: { off: number[]; on: number[] };
  };
}

export interface BenchResults {
  limit?: Record<string, LimitResult>;
  queueLimit?: QueueLimitResult;
  endToEnd?: Record<string, EndToEndResult>;
  latency?: Record<string, LatencyResult>;
  embedded?: EmbeddedResult;
  burst?: BurstResult;
  scaling?: Record<string, ScalingResult>;
  concurrency?: Record<string, Record<string, number>>;
  plainBullmq?: PlainBullmqResult;
  /** Scenario 8 with the image's 110 KB stored once as bytes beside each job. */
  plainBullmqImage?: PlainBullmqResult;
  ingest?: Record<string, IngestResult>;
  /** `pnpm bench --profile` only: where the CPU of the compared processes went. */
  profiles?: Profiles;
  offline?: OfflineResult;
  largeOutputs?: LargeOutputsResult;
  ocr?: OcrResult;
  coldStart?: Record<string, ColdStartResult>;
  shadow?: ShadowResult;
  targets?: TargetRow[];
  /** Scenarios that failed, by number: their error message. */
  errors?: Record<string, string>;
  machine?: MachineInfo;
  quick?: boolean;
  date?: string;
  durationS?: number;
}
