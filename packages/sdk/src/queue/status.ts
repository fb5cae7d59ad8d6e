import type { Queue } from 'bullmq';
import {
  compareVersions,
  queueName,
  type ConveyorStatus,
  type ModelAliases,
  type ModelStatus,
  type QueueStatus,
  type VersionState,
  type WorkerRecord,
  type RedisClient,
} from '@conveyor/shared';
import type { AnnouncedVersion } from '../catalogue.js';
import { readLiveWorkers } from './workers.js';

const COUNTED = ['waiting', 'prioritized', 'delayed', 'active', 'failed', 'completed'] as const;

/**
 * The enqueue times (BullMQ's job `timestamp`, epoch ms by the enqueuing client's clock) of the
 * job each waiting structure hands out next, and the Redis server's clock: BullMQ LPUSHes onto
 * the wait list and workers RPOPLPUSH from its tail, so the tail is the oldest waiting job; the
 * prioritized set is ZPOPMINed by score (priority, then arrival), so its first member is the next
 * prioritized job. -1 where a structure is empty.
 */
const OLDEST = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local function enqueuedAt(id)
  if not id then return -1 end
  local ts = redis.call('HGET', ARGV[1] .. id, 'timestamp')
  if not ts then return -1 end
  return tonumber(ts)
end
local tail = redis.call('LINDEX', KEYS[1], -1)
local first = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
return { ms, enqueuedAt(tail), enqueuedAt(first) }
`;

/** What status() reads besides the registry: the catalogue, aliases and queues. */
export interface StatusSources {
  redis: RedisClient;
  prefix: string;
  /** Every announced version, in any state. */
  versions(): Promise<AnnouncedVersion[]>;
  aliases(model: string): Promise<ModelAliases>;
  /** A read-only handle of the named queue (one that never writes the queue's metadata). */
  queue(name: string): Queue;
}

interface QueueReading {
  counts: QueueStatus['counts'];
  oldestWaitingSeconds: number | null;
}

/**
 * A version's queue now. `oldestWaitingSeconds` is the age, by the Redis server's clock, of the
 * longer-waiting of the two jobs next in line (the wait list's and the prioritized set's): a
 * low-priority job behind the first prioritized one may have waited longer than it says. A delayed
 * job counts from when it was enqueued, its delay included, once it was moved to the wait list.
 */
async function readQueue(sources: StatusSources, model: string, version: string) {
  const queue = sources.queue(queueName(model, version));
  const [counts, oldest] = await Promise.all([
    queue.getJobCounts(...COUNTED),
    sources.redis.eval(OLDEST, 2, queue.keys.wait!, queue.keys.prioritized!, queue.toKey('')),
  ]);
  const [now = 0, tail = -1, first = -1] = oldest as number[];
  const enqueued = [tail, first].filter((at) => at >= 0);
  const reading: QueueReading = {
    counts: Object.fromEntries(COUNTED.map((s) => [s, counts[s] ?? 0])) as QueueReading['counts'],
    oldestWaitingSeconds:
      enqueued.length === 0 ? null : Math.max(0, now - Math.min(...enqueued)) / 1000,
  };
  return reading;
}

/** Version states in order of preference, as the catalogue ranks them. */
const RANK: Record<VersionState, number> = { ready: 0, degraded: 1, loading: 2, draining: 3 };
/** States in which a worker consumes a version's queue. */
const CONSUMING: ReadonlySet<VersionState> = new Set(['ready', 'degraded', 'draining']);

/**
 * Backlog in seconds of work: the jobs waiting (waiting + prioritized) times the mean recent
 * service time per job of the live workers, over their number. 0 when none waits; null when jobs
 * wait and no live worker serves the version, or none has measured a service time yet.
 */
export function backlogSeconds(
  waiting: number,
  workers: number,
  serviceSecondsPerJob: number | null,
): number | null {
  if (waiting === 0) return 0;
  if (workers === 0 || serviceSecondsPerJob === null) return null;
  return (waiting * serviceSecondsPerJob) / workers;
}

/** The live workers' view of one version: who consumes it, its best state, their service time. */
function servedBy(workers: readonly WorkerRecord[], model: string, version: string) {
  let best: VersionState | undefined;
  let consuming = 0;
  let measured = 0;
  let sum = 0;
  for (const worker of workers) {
    const held = worker.versions.find((v) => v.model === model && v.version === version);
    if (!held) continue;
    if (best === undefined || RANK[held.state] < RANK[best]) best = held.state;
    if (!CONSUMING.has(held.state)) continue;
    consuming += 1;
    if (held.serviceSecondsPerJob === null) continue;
    measured += 1;
    sum += held.serviceSecondsPerJob;
  }
  return { best, consuming, serviceSecondsPerJob: measured === 0 ? null : sum / measured };
}

/** Failed attempts by model, version and code, summed over the live workers' records. */
function failuresOf(workers: readonly WorkerRecord[]): ConveyorStatus['failures'] {
  const sums = new Map<string, ConveyorStatus['failures'][number]>();
  for (const worker of workers)
    for (const v of worker.versions)
      for (const [code, count] of Object.entries(v.failuresByCode)) {
        const key = `${v.model}@${v.version}@${code}`;
        const entry = sums.get(key) ?? { model: v.model, version: v.version, code, count: 0 };
        entry.count += count;
        sums.set(key, entry);
      }
  return [...sums.values()];
}

/**
 * Everything at one moment: models (the catalogue's versions and the aliases), each version's
 * queue, the live workers and their failures. Versions come from the catalogue and from the live
 * workers' records (a worker may hold one it has not announced yet).
 */
export async function readStatus(sources: StatusSources): Promise<ConveyorStatus> {
  const [announced, { now, workers }] = await Promise.all([
    sources.versions(),
    readLiveWorkers(sources.redis, sources.prefix),
  ]);
  const byModel = new Map<string, Map<string, VersionState>>();
  const note = (model: string, version: string, state: VersionState) => {
    const versions = byModel.get(model) ?? new Map<string, VersionState>();
    if (!versions.has(version)) versions.set(version, state);
    byModel.set(model, versions);
  };
  for (const v of announced) note(v.name, v.version, v.state);
  for (const w of workers) for (const v of w.versions) note(v.model, v.version, v.state);

  const names = [...byModel.keys()].sort();
  const models: ModelStatus[] = [];
  const queues: QueueStatus[] = [];
  await Promise.all(
    names.map(async (name) => {
      const versions = [...byModel.get(name)!].sort(([a], [b]) => compareVersions(a, b));
      const [aliases, readings] = await Promise.all([
        sources.aliases(name),
        Promise.all(versions.map(([version]) => readQueue(sources, name, version))),
      ]);
      const model: ModelStatus = { name, versions: [], aliases };
      versions.forEach(([version, announcedState], i) => {
        const reading = readings[i]!;
        const served = servedBy(workers, name, version);
        const state = served.best ?? announcedState;
        const ready = served.best !== undefined && RANK[served.best] <= RANK.degraded;
        model.versions.push({ version, state, ready, workers: served.consuming });
        const waiting = reading.counts.waiting + reading.counts.prioritized;
        queues.push({
          model: name,
          version,
          ...reading,
          workers: served.consuming,
          serviceSecondsPerJob: served.serviceSecondsPerJob,
          backlogSeconds: backlogSeconds(waiting, served.consuming, served.serviceSecondsPerJob),
        });
      });
      models.push(model);
    }),
  );
  models.sort((a, b) => (a.name < b.name ? -1 : 1));
  queues.sort((a, b) =>
    a.model === b.model ? compareVersions(a.version, b.version) : a.model < b.model ? -1 : 1,
  );
  return { at: now, models, queues, workers, failures: failuresOf(workers) };
}
