import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * Where `conveyor dev` says what it started, relative to the folder it runs in: other `conveyor`
 * commands and `createClient()` without `redisUrl`, run in the same folder, use its Redis.
 */
export const DEV_STATE_FILE = join('.conveyor', 'dev.json');

/** What `conveyor dev` records while it runs. */
export const DevStateSchema = z
  .object({
    /** Its Redis (a throwaway one on a free port, or the one it was given). */
    redisUrl: z.string().regex(/^rediss?:\/\//i),
    /** REDIS_KEY_PREFIX of its worker and producer. */
    prefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
    /** Its HTTP API, e.g. `http://127.0.0.1:8080`. */
    producerUrl: z.string().url(),
    /** The `conveyor dev` process: the file is stale once it is gone. */
    pid: z.number().int().positive(),
    startedAt: z.string(),
  })
  .strip();

export type DevState = z.infer<typeof DevStateSchema>;

/** Whether a process id is alive (EPERM: alive, owned by someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The state of a `conveyor dev` still running from `dir`, read from `dir/.conveyor/dev.json`;
 * undefined when there is no such file, it cannot be read or parsed, or its process has exited.
 * Never throws: a missing or broken file only means "no dev loop here".
 */
export function readDevState(dir: string): DevState | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, DEV_STATE_FILE), 'utf8');
  } catch {
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = DevStateSchema.safeParse(raw);
  if (!parsed.success || !alive(parsed.data.pid)) return undefined;
  return parsed.data;
}

/** Writes the state file in `dir` (atomically: a reader never sees half of it); returns its path. */
export function writeDevState(dir: string, state: DevState): string {
  const path = join(dir, DEV_STATE_FILE);
  mkdirSync(join(dir, '.conveyor'), { recursive: true });
  const partial = `${path}.${state.pid}.tmp`;
  writeFileSync(partial, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(partial, path);
  return path;
}

/** Removes the state file in `dir` when it is the one process `pid` wrote. */
export function removeDevState(dir: string, pid: number): void {
  const path = join(dir, DEV_STATE_FILE);
  try {
    const raw: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (DevStateSchema.safeParse(raw).data?.pid !== pid) return;
  } catch {
    return;
  }
  rmSync(path, { force: true });
}
