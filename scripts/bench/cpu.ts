/** CPU time and memory of processes, read from /proc (Linux only; NaN elsewhere). */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { hashValueBytes } from '@conveyor/shared';
import { round } from './lib.js';
import type { CpuSeconds, RedisCommandsPerJob } from './results.js';

/**
 * The fields of a /proc stat file (a process's, or one of its threads') after the parenthesised
 * command name, so that field n of proc(5) is at index n - 3; undefined once it has exited.
 */
function statFields(path: string): string[] | undefined {
  try {
    const stat = readFileSync(path, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system: fields 14 and 15, in ticks of 10 ms) of a /proc stat file. */
function statCpuSeconds(path: string): number {
  const fields = statFields(path);
  return fields ? (Number(fields[11]) + Number(fields[12])) / 100 : Number.NaN;
}

/** CPU seconds (user + system, every thread) a process has used so far. */
export const processCpuSeconds = (pid: number | undefined): number =>
  pid === undefined ? Number.NaN : statCpuSeconds(`/proc/${pid}/stat`);

/**
 * CPU seconds a process's main thread has used so far: a Node process's JavaScript. Its other
 * threads are V8's (the garbage collector's helpers, the compiler's), libuv's, and onnxruntime's.
 */
export const mainThreadCpuSeconds = (pid: number | undefined): number =>
  pid === undefined ? Number.NaN : statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);

/**
 * Kernel CPU seconds and minor page faults of a process so far: where a server's time goes when
 * it copies bytes through sockets and into memory it has not touched yet.
 */
export function processKernelUse(pid: number | undefined): {
  systemSeconds: number;
  minorFaults: number;
} {
  // Fields 10 (minflt) and 15 (stime).
  const fields = pid === undefined ? undefined : statFields(`/proc/${pid}/stat`);
  if (!fields) return { systemSeconds: Number.NaN, minorFaults: Number.NaN };
  return { systemSeconds: Number(fields[12]) / 100, minorFaults: Number(fields[7]) };
}

/** Sum of processCpuSeconds (or of another reading) over several processes. */
export const cpuSecondsOf = (
  pids: readonly (number | undefined)[],
  read: (pid: number | undefined) => number = processCpuSeconds,
): number => pids.reduce<number>((sum, pid) => sum + read(pid), 0);

/** Resident set size of a process in MiB, or NaN once it has exited. */
export function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return kb === undefined ? Number.NaN : Number(kb) / 1024;
  } catch {
    return Number.NaN;
  }
}

/** A section of INFO from the Redis at `url` (the default sections when none is named). */
async function readInfo(url: string, section?: string): Promise<string> {
  const connection = new Redis(url);
  try {
    return section === undefined ? await connection.info() : await connection.info(section);
  } finally {
    connection.disconnect();
  }
}

/** The pid, version and `used_memory` of the Redis at `url`, from INFO. */
export async function redisInfo(
  url: string,
): Promise<{ pid: number; version: string; usedMemory: number }> {
  const info = await readInfo(url);
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '';
  return {
    pid: Number(field('process_id')),
    version: field('redis_version'),
    usedMemory: Number(field('used_memory')),
  };
}

/** The Redis at `url`'s `hash-max-listpack-value` (docs/operations.md). */
export async function redisHashValueBytes(url: string): Promise<number> {
  const connection = new Redis(url);
  try {
    return await hashValueBytes(connection);
  } finally {
    connection.disconnect();
  }
}

/** Redis's `used_memory`, read on a connection the caller holds (for reads many times a second). */
export async function usedMemory(connection: Redis): Promise<number> {
  return Number(/^used_memory:(\d+)/m.exec(await connection.info('memory'))?.[1]);
}

/** Calls and microseconds of each command, by name, as INFO commandstats counts them. */
export type CommandStats = ReadonlyMap<string, { calls: number; usec: number }>;

/** What the Redis at `url` has run so far, command by command (INFO commandstats). */
export async function redisCommandStats(url: string): Promise<CommandStats> {
  const stats = new Map<string, { calls: number; usec: number }>();
  const info = await readInfo(url, 'commandstats');
  for (const [, name, calls, usec] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm))
    stats.set(name!, { calls: Number(calls), usec: Number(usec) });
  return stats;
}

/**
 * Commands called fewer times per job than this are left out of `commandsPerJob`: the idle
 * polling of processes that do not take part in the turn.
 */
const LEAST_CALLS_PER_JOB = 0.001;

/**
 * The commands Redis ran between two readings, per job: calls and µs, the costliest first. A
 * command a Lua script calls counts on its own and within the EVALSHA that ran the script.
 */
export function commandsPerJob(
  before: CommandStats,
  after: CommandStats,
  jobs: number,
): RedisCommandsPerJob {
  const perJob: RedisCommandsPerJob = {};
  const ranked = [...after]
    .map(([name, { calls, usec }]) => {
      const was = before.get(name) ?? { calls: 0, usec: 0 };
      return { name, calls: (calls - was.calls) / jobs, us: (usec - was.usec) / jobs };
    })
    .filter(({ calls, name }) => calls >= LEAST_CALLS_PER_JOB && !/^(info|config)/.test(name))
    .sort((a, b) => b.us - a.us);
  for (const { name, calls, us } of ranked)
    perJob[name] = { calls: Math.round(calls * 1000) / 1000, us: Math.round(us * 100) / 100 };
  return perJob;
}

/**
 * Starts a CPU reading of this driver, worker processes and Redis; the returned function gives each
 * one's CPU seconds since, the workers' main threads apart too (rounded to 10 ms, the tick).
 */
export function cpuSince(
  workerPids: readonly (number | undefined)[],
  redisPid: number,
): () => CpuSeconds {
  const driver = process.cpuUsage();
  const worker = cpuSecondsOf(workerPids);
  const workerMain = cpuSecondsOf(workerPids, mainThreadCpuSeconds);
  const redis = processCpuSeconds(redisPid);
  return () => ({
    driver: round(driverCpuSeconds(driver)),
    worker: round(cpuSecondsOf(workerPids) - worker),
    redis: round(processCpuSeconds(redisPid) - redis),
    workerMainThread: round(cpuSecondsOf(workerPids, mainThreadCpuSeconds) - workerMain),
  });
}

/** The driver's own CPU seconds since `since` (a process.cpuUsage() reading). */
export function driverCpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}
