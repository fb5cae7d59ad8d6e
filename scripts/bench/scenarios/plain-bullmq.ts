/**
 * Scenario 8, plain BullMQ round trip, no Conveyor code at all: `Queue.addBulk` with the same
 * sliding window as scenario 3, a no-op BullMQ worker process, and QueueEvents counting
 * completions. What BullMQ and Redis cost per job on this machine: with iris's features in the
 * job, and with the image's 110 KB stored once as bytes beside it (SET by the driver, GETDEL by
 * the worker), the least that moving an image through Redis costs, whatever runs around it, alone
 * and with the model running beside it (besideInference); and beside the model, plain BullMQ
 * carrying Conveyor's own image job (imageBesideInference).
 */
import {
  DEFAULTS,
  newJobId,
  queueKey,
  queueName,
  queueOfJobId,
  queuePrefix,
} from '@conveyor/shared';
import type { ConveyorClient } from '@conveyor/sdk';
import { Queue, QueueEvents, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { BenchContext } from '../context.js';
import { commandsPerJob, cpuSince, redisCommandStats, redisInfo } from '../cpu.js';
import { IMAGE_WINDOW, WINDOW, driveEndToEnd, warmUp, warmUpJobs } from '../drive.js';
import { profileEnv, profiled, removePerfFiles } from '../perf-profile.js';
import { fastestOfAlternating, round, say } from '../lib.js';
import { inferenceMsPerRow } from '../report.js';
import { endToEndResult, measuredDrive } from './end-to-end.js';
import type { BenchResults, PlainBullmqResult, RedisCommandsPerJob } from '../results.js';
import { WORKLOADS, modelProcessEnv, oneRowInputs } from '../workloads.js';

export async function runPlainBullmq(ctx: BenchContext, results: BenchResults): Promise<void> {
  say('\n8. plain BullMQ round trip: addBulk, a no-op worker process, QueueEvents');
  results.plainBullmq = await irisBesideConveyor(ctx, results, ctx.counts.irisJobs);
  say(`   iris payloads: ${JSON.stringify(results.plainBullmq)}`);
  results.plainBullmqImage = await imageBesideInference(ctx, results, ctx.counts.imageJobs);
  say(`   110 KB stored once per job: ${JSON.stringify(results.plainBullmqImage)}`);
}

/**
 * Plain BullMQ moving the image's bytes, alone and with the model running beside it, and carrying
 * Conveyor's own image job beside the model (its id, options, payload and return value, read back
 * from a job Conveyor ran, with the bytes kept until the job's completion is recorded, as a
 * Conveyor worker keeps them for a retry): in rounds alternating the three, each keeping its
 * fastest turn.
 */
async function imageBesideInference(
  ctx: BenchContext,
  results: BenchResults,
  jobs: number,
): Promise<PlainBullmqResult> {
  const shape = await ctx.withWorkers(['text-direction'], 1, {}, (client, prefix) =>
    conveyorJobShape(client, ctx.redis.url, prefix, 'text-direction'),
  );
  const image = await openPlainSide(ctx, 'image', jobs);
  const shaped = await openPlainSide(ctx, 'image', jobs, shape).catch(async (err: unknown) => {
    await image.close();
    throw err;
  });
  try {
    await image.warm();
    await shaped.warm();
    const [alone, contended, carried] = await fastestOfAlternating<PlainBullmqResult>([
      image.turn,
      besideInference(ctx, results, image.turn),
      besideInference(ctx, results, shaped.turn),
    ]);
    return {
      ...alone!.best,
      turnsPerSecond: alone!.rates,
      besideInference: { ...contended!.best, turnsPerSecond: contended!.rates },
      conveyorShaped: { ...carried!.best, turnsPerSecond: carried!.rates },
    };
  } finally {
    await image.close();
    await shaped.close();
  }
}

/**
 * A turn of plain BullMQ moving the image's bytes while onnxruntime runs the model in a process
 * beside it (scripts/bench/inference-loop.ts: calls of the rows Conveyor's worker batched in
 * scenario 3, at a Conveyor worker's priority, as its inference thread runs), with the CPU per row
 * the model took meanwhile: what moving the bytes costs on a machine whose other core runs the
 * model, and so the largest inference share a queue can reach here.
 */
function besideInference(
  ctx: BenchContext,
  results: BenchResults,
  turn: () => Promise<PlainBullmqResult>,
): () => Promise<PlainBullmqResult> {
  const batch =
    inferenceMsPerRow(results)?.batch ?? results.limit?.['text-direction']?.bestBatch ?? 16;
  return async () => {
    const loop = await ctx.start(
      'scripts/bench/inference-loop.ts',
      { ...modelProcessEnv('text-direction'), BATCH: String(batch) },
      'inference loop ready',
    );
    let measured: PlainBullmqResult;
    try {
      measured = await turn();
    } finally {
      await ctx.stop(loop);
    }
    const stopped = loop.logs.find((r) => r.msg === 'inference loop stopped');
    const rows = Number(stopped?.rows);
    const cpuSeconds = Number(stopped?.cpuSeconds);
    if (!(rows > 0 && cpuSeconds > 0)) throw new Error('the inference loop reported no rows');
    return { ...measured, inference: { batch, msPerRow: round((cpuSeconds * 1000) / rows, 4) } };
  };
}

/**
 * Plain BullMQ's iris round trip in turns that alternate with Conveyor's (scenario 3's iris drive,
 * the SDK and one worker, on the same Redis), so that a busy moment of the host falls on both
 * sides alike: their ratio is the target's. A third side runs plain BullMQ with Conveyor's own
 * job (the id, options and payload the SDK wrote, and the result its worker returned, read back
 * from a job Conveyor ran): what BullMQ and Redis cost for that job, with none of Conveyor's code
 * around it. Each side keeps its fastest turn. With `--profile`, one more turn of Conveyor's worker
 * and of plain BullMQ's no-op worker runs under perf: their CPU per job by owner (perf-profile.ts).
 */
async function irisBesideConveyor(
  ctx: BenchContext,
  results: BenchResults,
  jobs: number,
): Promise<PlainBullmqResult> {
  return ctx.withWorkers(['iris'], 1, profileEnv(ctx.profile), async (client, prefix, workers) => {
    await warmUp(client, 'iris', 'iris', jobs);
    const pids = workers.map((w) => w.child.pid);
    const shape = await conveyorJobShape(client, ctx.redis.url, prefix, 'iris');
    const plain = await openPlainSide(ctx, 'iris', jobs);
    const shaped = await openPlainSide(ctx, 'iris', jobs, shape).catch(async (err: unknown) => {
      await plain.close();
      throw err;
    });
    try {
      await plain.warm();
      await shaped.warm();
      const { pid: redisPid } = await redisInfo(ctx.redis.url);
      const drive = () => measuredDrive(client, 'iris', 'iris', jobs, pids, redisPid);
      const counted = withCommandsPerJob(ctx.redis.url, jobs);
      const [own, conveyorShaped, conveyor] = await fastestOfAlternating<
        PlainBullmqResult | Awaited<ReturnType<typeof drive>>
      >([counted(plain.turn), counted(shaped.turn), counted(drive)]);
      const asPlain = (side: typeof own) => ({
        ...(side!.best as PlainBullmqResult),
        turnsPerSecond: side!.rates,
      });
      const driven = conveyor!.best as Awaited<ReturnType<typeof drive>> & {
        redisCommands: RedisCommandsPerJob;
      };
      if (ctx.profile) results.profiles = { ...results.profiles, worker: await profileWorkers() };
      return {
        ...asPlain(own),
        conveyorShaped: asPlain(conveyorShaped),
        conveyor: {
          ...endToEndResult(jobs, driven, conveyor!.rates),
          redisCommands: driven.redisCommands,
        },
      };
    } finally {
      await plain.close();
      await shaped.close();
      if (ctx.profile) await removePerfFiles([plain.pid, ...pids]);
    }

    /** One more turn of Conveyor's worker and of plain BullMQ's, each under perf (per job). */
    async function profileWorkers() {
      const conveyor = await profiled(
        workers[0]?.child.pid ?? 0,
        () => driveEndToEnd(client, 'iris', 'iris', jobs),
        () => jobs,
      );
      const bare = await profiled(plain.pid ?? 0, plain.turn, (turn) => turn.jobs);
      say(
        `   CPU µs per job by owner: ${JSON.stringify({ conveyor: conveyor.profile, plain: bare.profile })}`,
      );
      return { conveyor: conveyor.profile, plain: bare.profile };
    }
  });
}

/**
 * Wraps a turn to add the commands Redis ran per job in it, read before and after from INFO
 * commandstats. The other side's idle worker polls in the meantime; at 20,000 jobs a turn, its
 * share rounds away.
 */
const withCommandsPerJob =
  (url: string, jobs: number) =>
  <T extends object>(turn: () => Promise<T>) =>
  async (): Promise<T & { redisCommands: RedisCommandsPerJob }> => {
    const before = await redisCommandStats(url);
    const result = await turn();
    return { ...result, redisCommands: commandsPerJob(before, await redisCommandStats(url), jobs) };
  };

/**
 * The shape of one job as Conveyor writes it, for plain BullMQ to carry (see irisBesideConveyor and
 * imageBesideInference).
 */
interface JobShape {
  model: 'iris' | 'text-direction';
  data: unknown;
  opts: JobsOptions;
  /** The worker's return value, as BullMQ stored it (JSON). */
  returned: string;
}

/** Reads back the stored payload, options and result of one job of `model` Conveyor ran. */
async function conveyorJobShape(
  client: ConveyorClient,
  redisUrl: string,
  prefix: string,
  model: JobShape['model'],
): Promise<JobShape> {
  const handle = await client.enqueue(model, oneRowInputs(model));
  await handle.result();
  const redis = new Redis(redisUrl);
  try {
    const stored = await redis.hgetall(queueKey(prefix, queueOfJobId(handle.id), handle.id));
    const { data, opts, returnvalue } = stored;
    if (!data || !opts || !returnvalue) throw new Error(`job ${handle.id} was not read back`);
    return {
      model,
      data: JSON.parse(data),
      opts: JSON.parse(opts) as JobsOptions,
      returned: returnvalue,
    };
  } finally {
    redis.disconnect();
  }
}

/** Counts the queue's completions; `waitFor(n)` resolves once n have completed. */
function completions(events: QueueEvents) {
  let completed = 0;
  let target = Number.POSITIVE_INFINITY;
  let release: (() => void) | undefined;
  events.on('completed', () => {
    completed += 1;
    if (completed >= target) release?.();
  });
  return {
    count: () => completed,
    /** Resolves once `done` jobs have completed; rejects after `ms`. */
    waitFor: (done: number, ms: number) =>
      completed >= done
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error('plain BullMQ: not every job completed in time')),
              ms,
            );
            target = done;
            release = () => {
              clearTimeout(timer);
              release = undefined;
              resolve();
            };
          }),
  };
}

/**
 * Plain BullMQ's side of scenario 8 for one payload: its queue, QueueEvents and no-op worker
 * process. `warm()` runs as many jobs as scenario 3 warms with, unmeasured; each `turn()` runs
 * `jobs` jobs and measures them with the CPU of driver, worker and Redis.
 */
async function openPlainSide(
  ctx: BenchContext,
  payload: 'iris' | 'image',
  jobs: number,
  shape?: JobShape,
) {
  const name = shape ? queueName(shape.model, '1') : `plain-${payload}`;
  // Conveyor's job goes under the key layout Conveyor gives it: its model's hash tag.
  const prefix = shape ? queuePrefix(ctx.prefixFor('shaped'), name) : ctx.prefixFor(name);
  const connection = { url: ctx.redis.url };
  const queue = new Queue(name, { connection, prefix });
  const events = new QueueEvents(name, { connection, prefix });
  const bytes = new Redis(ctx.redis.url);
  const bytesKey = (id: string) => `${prefix}:bytes:${id}`;
  const { row } = WORKLOADS['text-direction'];
  const image = Buffer.from(row.buffer, row.byteOffset, row.byteLength);
  const irisData = { inputs: { features: [...WORKLOADS.iris.row] } };
  const window = payload === 'iris' ? WINDOW : IMAGE_WINDOW;
  const worker = await ctx.start(
    'scripts/bench/plain-worker.ts',
    // As many as a Conveyor worker holds of each by default (2 x 1 thread x 32 rows a call); a
    // no-op worker ran as fast at 32 (8,804 and 7,109 jobs/s against 8,842 and 7,077 at 64).
    {
      QUEUE: name,
      PREFIX: prefix,
      WORKER_CONCURRENCY: '64',
      BYTES: payload === 'image' && !shape ? '1' : '',
      BYTES_PREFIX: payload === 'image' && shape ? bytesKey('') : '',
      // The image worker at a Conveyor worker's priority, as the model beside it (besideInference).
      NICE: payload === 'image' ? String(DEFAULTS.workerNice) : '',
      RETURN: shape?.returned ?? '',
      // Only plain BullMQ's iris worker is profiled (see profileWorkers).
      ...profileEnv(ctx.profile && payload === 'iris' && shape === undefined),
    },
    'plain worker ready',
  );
  const close = async () => {
    bytes.disconnect();
    await events.close();
    await queue.close();
    await ctx.stop(worker);
  };
  await events.waitUntilReady().catch(async (err: unknown) => {
    await close();
    throw err;
  });
  const { pid: redisPid } = await redisInfo(ctx.redis.url);
  const done = completions(events);
  let key = 0;
  const newId = () => (shape ? newJobId(shape.model, '1') : String(key++));
  /** Adds `count` jobs with scenario 3's window and waits until they have completed. */
  const run = async (count: number) => {
    const base = done.count();
    const deadline = performance.now() + 120_000;
    const left = () => Math.max(0, deadline - performance.now());
    for (let added = 0; added < count;) {
      const part = Math.min(250, window / 4, count - added);
      await done.waitFor(base + added + part - window, left());
      const ids = Array.from({ length: part }, newId);
      // The bytes first: stored before the job that names them, as the SDK stores inputs.
      if (payload === 'image') {
        const writes = bytes.pipeline();
        for (const id of ids) writes.set(bytesKey(id), image, 'EX', 3600);
        await writes.exec();
      }
      // Conveyor keeps 10 000 completed jobs by default; so does this queue.
      await queue.addBulk(
        ids.map((id) =>
          shape
            ? { name: 'predict', data: shape.data, opts: { ...shape.opts, jobId: id } }
            : {
                name: 'predict',
                data: payload === 'iris' ? irisData : { key: bytesKey(id) },
                opts: { removeOnComplete: 10_000 },
              },
        ),
      );
      added += part;
    }
    await done.waitFor(base + count, left());
  };
  const turn = async (): Promise<PlainBullmqResult> => {
    const cpuSeconds = cpuSince([worker.child.pid], redisPid);
    const started = performance.now();
    await run(jobs);
    const seconds = (performance.now() - started) / 1000;
    return {
      jobs,
      window,
      jobsPerSecond: round(jobs / seconds, 0),
      seconds: round(seconds, 2),
      cpuSeconds: cpuSeconds(),
    };
  };
  // Warmed as Conveyor's scenarios are, with as many jobs, unmeasured.
  return {
    warm: () => run(warmUpJobs(jobs)),
    turn,
    close,
    pid: worker.child.pid,
  };
}
