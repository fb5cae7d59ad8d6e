import { silentLogger, toConveyorError, type Logger } from '@conveyor/shared';
import { processingTask, type LoadedVersion } from './load-version.js';
import { runOnCaller } from './inline-run.js';
import { openSession } from './session.js';
import { planWarmup, sampleTensors } from './warm-up.js';

/**
 * Runs of the warm-up sample timed on a thread, at most; the fastest decides. On a busy host, and
 * while the worker's own start still compiles and connects beside the thread, most runs of a tiny
 * model can land past the threshold: with 8 runs, iris stayed on its thread in one worker start of
 * four we logged, and each of its jobs then paid the hop (3.5x the CPU of an inline run, and two
 * thread wake-ups). The runs stop at the first one under the threshold: a tiny model needs few.
 */
const TIMED_RUNS = 32;
/**
 * A warm-up (a first run, with its allocations and cold code, plus the hop; iris takes 2 to 10 ms
 * on a busy 2-core machine) this many times the threshold or slower is not timed further: such a
 * model is never tiny, and timing it would slow its load.
 */
const WARMUP_FACTOR = 500;
/** After this many timed runs, a version still this many times the threshold is not tiny. */
const EARLY_RUNS = 3;
const EARLY_FACTOR = 20;

/**
 * The fastest onnxruntime run of a version's warm-up sample on one of its threads, in ms, stopping
 * at the first run under `belowMs` (or once the version is clearly far above it). The fastest, not
 * the median: the first runs on a thread are slow (its code is still cold) and a busy machine only
 * ever slows a run down.
 */
async function fastestThreadRunMs(loaded: LoadedVersion, belowMs: number): Promise<number> {
  const { entry, signature, runtime } = loaded.served;
  const { plan } = planWarmup(signature, runtime, entry.config.warmup);
  const outputs = signature.outputs.map((o) => o.name);
  const processing = processingTask(entry);
  let fastest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < TIMED_RUNS; i++) {
    const reply = await loaded.pool.run(
      {
        kind: 'run',
        modelPath: entry.modelPath,
        session: entry.config.session,
        inputs: sampleTensors(plan, signature),
        outputs,
        ...(processing && { processing: { ...processing, warmup: true } }),
      },
      true,
    );
    if (reply.kind !== 'run') return Number.POSITIVE_INFINITY;
    fastest = Math.min(fastest, reply.ms);
    if (fastest < belowMs) break;
    if (i + 1 >= EARLY_RUNS && fastest >= belowMs * EARLY_FACTOR) break;
  }
  return fastest;
}

/**
 * Chooses where a loaded version runs. onnxruntime-node's run() blocks the thread it runs on, so
 * versions run on inference threads; but for a tiny model the hop to a thread (structured clone,
 * two messages, waking the thread) costs more than the run itself. A version that is ready, warmed
 * up, and whose warm-up sample runs in under `belowMs` (the fastest of a few runs on a thread) gets
 * a session on the calling thread too and runs there from now on. Never throws: a version that
 * cannot be measured or opened here stays on its threads.
 */
export async function chooseInline(
  loaded: LoadedVersion,
  belowMs: number,
  logger: Logger = silentLogger(),
): Promise<LoadedVersion> {
  const { served, pool } = loaded;
  if (belowMs <= 0 || pool.threads === 0 || served.state !== 'ready') return loaded;
  if (served.warmupMs === undefined || served.warmupMs >= belowMs * WARMUP_FACTOR) return loaded;
  const { entry, signature, runtime } = served;
  try {
    if ((await fastestThreadRunMs(loaded, belowMs)) >= belowMs) return loaded;
    const session = await openSession(entry.modelPath, entry.config.session);
    try {
      // Warms the new session up, and proves it runs the sample, before any request reaches it.
      const { plan } = planWarmup(signature, runtime, entry.config.warmup);
      const outputs = signature.outputs.map((o) => o.name);
      const processing = processingTask(entry);
      await runOnCaller(session, {
        kind: 'run',
        modelPath: entry.modelPath,
        session: entry.config.session,
        inputs: sampleTensors(plan, signature),
        outputs,
        ...(processing && { processing: { ...processing, warmup: true } }),
      });
    } catch (error) {
      await session.release();
      throw error;
    }
    await pool.runInline(session);
    return { ...loaded, served: { ...served, inline: true } };
  } catch (error) {
    logger.warn(
      { model: entry.name, version: entry.version, code: toConveyorError(error).code },
      'cannot run the model on the calling thread; it stays on its inference threads',
    );
    return loaded;
  }
}
