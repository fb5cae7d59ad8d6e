/** Runs a command to its end (or a time limit), sampling its resident memory as it goes. */
import { spawn } from 'node:child_process';
import { ROOT } from '../lib/worker-process.js';
import { rssMiB } from './cpu.js';

export interface MeasuredRun {
  exitCode: number | null;
  seconds: number;
  /** Whether it ended by itself before the time limit. */
  finished: boolean;
  /** RSS samples in MiB, one every 250 ms (at most 2000 kept, evenly thinned). */
  rssMiB: number[];
  stderr: string;
}

/** Runs a TypeScript entry point with node and tsx; SIGTERM at `timeLimitS`, SIGKILL 20 s later. */
export async function runMeasured(
  args: readonly string[],
  env: Record<string, string>,
  timeLimitS: number,
): Promise<MeasuredRun> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [...(args[0]?.endsWith('.ts') ? ['--import', 'tsx'] : []), ...args],
    { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  let samples: number[] = [];
  const sampler = setInterval(() => {
    const rss = rssMiB(child.pid);
    if (Number.isFinite(rss)) samples.push(rss);
    if (samples.length > 2000) samples = samples.filter((_, i) => i % 2 === 0);
  }, 250);
  let finished = true;
  const limit = setTimeout(() => {
    finished = false;
    child.kill('SIGTERM');
  }, timeLimitS * 1000);
  const kill = setTimeout(() => child.kill('SIGKILL'), (timeLimitS + 20) * 1000);
  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearInterval(sampler);
  clearTimeout(limit);
  clearTimeout(kill);
  return {
    exitCode,
    seconds: (performance.now() - started) / 1000,
    finished,
    rssMiB: samples,
    stderr,
  };
}
