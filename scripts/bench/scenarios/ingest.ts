/**
 * Scenario 9, the HTTP ingest limit: a fixed number of requests at a fixed concurrency to a bare
 * fastify server that reads the body and answers 202, then to Conveyor's producer answering
 * `Prefer: respond-async` with no worker running (the jobs wait; Redis is flushed afterwards);
 * between them, the same bare server queueing each body with plain BullMQ, no Conveyor code, and
 * (JSON only) the same again reading the JSON with fastify's parser and queueing what it read.
 * Each server is warmed up, then measured in three turns, the servers in turn, keeping its
 * fastest. Two bodies: iris as JSON, and the text-direction image as OIP binary. With
 * `--profile`, one more turn of the producer and of the bare server queueing (reading the JSON too,
 * for JSON) runs under perf: their CPU per request by owner (perf-profile.ts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelSignatureSchema, catalogueKey } from '@conveyor/shared';
import { Redis } from 'ioredis';
import { freePort } from '../../lib/redis-server.js';
import { driverCpuSeconds, processCpuSeconds, processKernelUse, redisInfo } from '../cpu.js';
import type { BenchContext } from '../context.js';
import { load, warmUp, type LoadOptions } from '../http-load.js';
import { oipBinaryRequest, round, say } from '../lib.js';
import { profileEnv, profiled, removePerfFiles } from '../perf-profile.js';
import type { BenchResults, IngestResult, IngestSide, Profiles } from '../results.js';
import { WORKLOADS, WORKLOAD_NAMES, type Workload } from '../workloads.js';

const CONCURRENCY = 32;

/** The request Conveyor's producer gets for one row of the workload, as a client sends it. */
function requestFor(workload: Workload): { body: Buffer; headers: Record<string, string> } {
  const { input, row, rowShape } = WORKLOADS[workload];
  if (workload === 'iris') {
    const json = {
      inputs: [{ name: input, shape: [1, ...rowShape], datatype: 'FP32', data: [...row] }],
    };
    return {
      body: Buffer.from(JSON.stringify(json)),
      headers: { 'content-type': 'application/json', prefer: 'respond-async' },
    };
  }
  return oipBinaryRequest(
    input,
    [1, ...rowShape],
    Buffer.from(row.buffer, row.byteOffset, row.byteLength),
  );
}

/** Announces the models as a worker would, so that the producer accepts jobs with none running. */
export async function announce(ctx: BenchContext, prefix: string): Promise<void> {
  const redis = new Redis(ctx.redis.url);
  try {
    for (const workload of WORKLOAD_NAMES) {
      const declared = JSON.parse(
        await readFile(join(ctx.repository, workload, '1', 'model.json'), 'utf8'),
      ) as { inputs?: unknown; outputs?: unknown };
      const signature = ModelSignatureSchema.parse({
        name: workload,
        version: '1',
        inputs: declared.inputs,
        outputs: declared.outputs,
      });
      await redis.hset(catalogueKey(prefix), `${workload}@1`, JSON.stringify(signature));
    }
  } finally {
    redis.disconnect();
  }
}

/** A load against one server, with the CPU ms per request of the server, this driver and Redis. */
async function measured(options: LoadOptions, serverPid: number | undefined, redisPid: number) {
  const before = {
    driver: process.cpuUsage(),
    server: processCpuSeconds(serverPid),
    redis: processCpuSeconds(redisPid),
    redisFaults: processKernelUse(redisPid).minorFaults,
  };
  const side: IngestSide = await load(options);
  const perRequest = (seconds: number) => round((seconds * 1000) / options.requests, 3);
  side.cpuMsPerRequest = {
    server: perRequest(processCpuSeconds(serverPid) - before.server),
    driver: perRequest(driverCpuSeconds(before.driver)),
    redis: perRequest(processCpuSeconds(redisPid) - before.redis),
  };
  side.redisFaultsPerRequest = round(
    (processKernelUse(redisPid).minorFaults - before.redisFaults) / options.requests,
    1,
  );
  return side;
}

/** Turns each server is measured in, the servers in turn; each keeps its fastest turn. */
const TURNS = 3;

type Side = 'bare' | 'bareQueued' | 'bareJsonQueued' | 'conveyor';
type Server = { port: number; pid: number | undefined };

/**
 * Measures the servers in TURNS turns, one after the other in each turn (each turn starting with
 * the next server), and keeps each one's
 * fastest turn (its CPU measured in that turn): a busy moment of a shared host only ever slows a
 * turn down, and the servers take their turns in the same stretch of time.
 */
async function fastestTurns(
  servers: Partial<Record<Side, Server>>,
  options: (port: number) => LoadOptions,
  redisPid: number,
): Promise<Partial<Record<Side, IngestSide>>> {
  const kept: Partial<Record<Side, IngestSide>> = {};
  const entries = Object.entries(servers) as [Side, Server][];
  for (let turn = 0; turn < TURNS; turn++) {
    // Each turn starts one server later, so that none always follows the same one.
    const order = [
      ...entries.slice(turn % entries.length),
      ...entries.slice(0, turn % entries.length),
    ];
    for (const [name, server] of order) {
      const side = await measured(options(server.port), server.pid, redisPid);
      const before = kept[name];
      kept[name] = {
        ...(before === undefined || side.requestsPerSecond > before.requestsPerSecond
          ? side
          : before),
        turnsPerSecond: [...(before?.turnsPerSecond ?? []), side.requestsPerSecond],
      };
    }
  }
  return kept;
}

export async function runIngest(ctx: BenchContext, results: BenchResults): Promise<void> {
  say(
    `\n9. HTTP ingest limit: bare fastify 202 vs Conveyor's producer with no worker (${CONCURRENCY} connections)`,
  );
  const prefix = ctx.prefixFor('ingest');
  const { pid: redisPid } = await redisInfo(ctx.redis.url);
  await announce(ctx, prefix);
  const barePort = await freePort();
  const conveyorPort = await freePort();
  const queuedPort = await freePort();
  const jsonQueuedPort = await freePort();
  const bare = await ctx.start(
    'scripts/bench/bare-server.ts',
    { PORT: String(barePort) },
    'bare server ready',
  );
  const queuedServer = (port: number, env: Record<string, string> = {}) =>
    ctx.start(
      'scripts/bench/bare-server.ts',
      {
        PORT: String(port),
        QUEUE_REDIS_URL: ctx.redis.url,
        QUEUE_PREFIX: ctx.prefixFor('bare-queued'),
        ...profileEnv(ctx.profile),
        ...env,
      },
      'bare server ready',
    );
  const queued = await queuedServer(queuedPort);
  const jsonQueued = await queuedServer(jsonQueuedPort, { READ_JSON: '1' });
  const producer = await ctx.producer(prefix, conveyorPort, {
    MAX_QUEUE_DEPTH: '1000000',
    ...profileEnv(ctx.profile),
  });
  const ingest: Record<string, IngestResult> = {};
  const profiles: NonNullable<Profiles['ingest']> = {};
  try {
    for (const workload of WORKLOAD_NAMES) {
      const { body, headers } = requestFor(workload);
      const requests =
        workload === 'iris' ? ctx.counts.ingestIrisRequests : ctx.counts.ingestImageRequests;
      const options = (port: number, count = requests): LoadOptions => ({
        port,
        path: `/v2/models/${workload}/infer`,
        body,
        headers,
        requests: count,
        concurrency: CONCURRENCY,
      });
      const servers: Partial<Record<Side, Server>> = {
        bare: { port: barePort, pid: bare.child.pid },
        bareQueued: { port: queuedPort, pid: queued.child.pid },
        // Only a JSON body is read: the binary one goes to Redis as it came either way.
        ...(workload === 'iris' && {
          bareJsonQueued: { port: jsonQueuedPort, pid: jsonQueued.child.pid },
        }),
        conveyor: { port: conveyorPort, pid: producer.child.pid },
      };
      // Warm each server up (JIT, connections, first jobs) with a turn's requests, then measure.
      for (const { port } of Object.values(servers)) await warmUp(options(port), /^202$/);
      const turns = await fastestTurns(servers, (port) => options(port), redisPid);
      if (!turns.bare || !turns.conveyor) throw new Error('scenario 9 measured no server');
      ingest[workload] = {
        body: workload === 'iris' ? 'iris, JSON' : 'text-direction, OIP binary',
        bodyBytes: body.byteLength,
        ...turns,
        bare: turns.bare,
        conveyor: turns.conveyor,
      };
      say(`   ${workload}: ${JSON.stringify(ingest[workload])}`);
      if (!ctx.profile) continue;
      // One more turn of each, under perf: Conveyor's producer against the bare server that does
      // the same work with no Conveyor code (reading the JSON too, for a JSON body).
      const against = servers.bareJsonQueued ?? servers.bareQueued;
      if (!against) continue;
      const turn = (server: Server) =>
        profiled(
          server.pid ?? 0,
          () => load(options(server.port)),
          (side) => side.requests,
        ).then(({ profile }) => profile);
      profiles[workload] = {
        conveyor: await turn({ port: conveyorPort, pid: producer.child.pid }),
        bare: await turn(against),
      };
      say(`   ${workload}, CPU µs per request by owner: ${JSON.stringify(profiles[workload])}`);
    }
  } finally {
    await ctx.stop(producer);
    await ctx.stop(bare);
    await ctx.stop(queued);
    await ctx.stop(jsonQueued);
    if (ctx.profile)
      await removePerfFiles([producer.child.pid, queued.child.pid, jsonQueued.child.pid]);
    // The accepted jobs (and their images) would otherwise stay in Redis for the rest of the run.
    const redis = new Redis(ctx.redis.url);
    await redis.flushall();
    redis.disconnect();
  }
  results.ingest = ingest;
  if (ctx.profile) results.profiles = { ...results.profiles, ingest: profiles };
}
