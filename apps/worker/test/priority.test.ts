import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { spawnWorker } from '../../../scripts/lib/worker-process.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';

const redisUrl = inject('redisUrl');

/** The niceness of each thread of a process, by thread name (Linux's /proc/<pid>/task). */
function threadNiceness(pid: number): { name: string; nice: number }[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    // The fields after the name: state is the first, the niceness the 17th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { name, nice: Number(fields[16]) };
  });
}

describe.runIf(process.platform === 'linux')('WORKER_NICE', () => {
  it('lowers every thread of the worker, those that ran before its code too', async () => {
    const prefix = uniquePrefix();
    const worker = await spawnWorker(redisUrl, prefix, {
      MODELS: 'text-direction',
      WORKER_NICE: '7',
      LOG_FORMAT: 'json',
      WORKER_HTTP_PORT: '0',
    });
    try {
      const threads = threadNiceness(worker.child.pid!);
      // The main thread, V8's helper threads, libuv's, the inference thread and onnxruntime's.
      expect(threads.length).toBeGreaterThan(4);
      expect(threads.filter((t) => t.nice < 7)).toEqual([]);
      const lowered = worker.logs.find((l) => l.msg === 'worker priority lowered');
      expect(lowered).toMatchObject({ nice: 7, was: 0 });
      expect(lowered?.threads).toBeGreaterThan(1);
    } finally {
      await worker.stop();
      await dropPrefix(redisUrl, prefix);
    }
  });
});
