import {
  ACCURACY_KEPT_MS,
  AccuracyQuerySchema,
  ConveyorError,
  FeedbackSchema,
  JobIdSchema,
  ModelNameSchema,
  accuracyBucketOf,
  accuracyOverWindows,
  answerRepeatedFeedback,
  feedbackReceiptOf,
  feedbackTruth,
  parseOrThrow,
  routeOfJobId,
  scoreFeedback,
  sumsOfScore,
  type AccuracyCount,
  type AccuracyQuery,
  type AccuracySums,
  type FeedbackReceipt,
  type FirstFeedback,
  type ModelAccuracy,
  type Tensor,
} from '@conveyor/shared';
import type { Prediction } from '../client.js';
import type { FeedbackOptions } from '../feedback.js';

/** How many recent predictions the embedded client keeps for feedback, and for how long. */
export interface PredictionsKept {
  /** Keep at most this many predictions (the oldest go first). */
  count: number;
  /** Drop predictions older than this, in seconds. */
  ageSeconds: number;
  /** Keep at most this many bytes of outputs. */
  maxBytes: number;
}

/** What a prediction's outputs hold in memory, about: tensor data bytes, a string's length. */
function bytesOf(outputs: Readonly<Record<string, Tensor>>): number {
  let bytes = 0;
  for (const { data } of Object.values(outputs)) {
    if (ArrayBuffer.isView(data)) bytes += data.byteLength;
    else for (const item of data) bytes += typeof item === 'string' ? item.length : item.byteLength;
  }
  return bytes;
}

/** What feedback needs of a prediction: the outputs to score, its version, who asked for it. */
interface KeptPrediction {
  version: string;
  outputs: Readonly<Record<string, Tensor>>;
  owner: string | undefined;
  keptAt: number;
  bytes: number;
  /** Its first feedback, once it has one. */
  first?: FirstFeedback;
}

type Bucket = AccuracyCount & { sums: AccuracySums };

/** The embedded client's feedback: its recent predictions and its accuracy counts, in memory. */
export interface FeedbackMemory {
  /** Keeps a prediction that has just completed (not when `count` is 0 or it is over `maxBytes`). */
  keep(prediction: Prediction, owner: string | undefined): void;
  /** client.feedback: scores a kept prediction once and counts it in its version's bucket. */
  feedback(id: string, input: unknown, options?: FeedbackOptions): FeedbackReceipt;
  /** client.accuracy over the ACCURACY_WINDOWS ending at `at` (default now). */
  accuracy(model: string, options?: AccuracyQuery): ModelAccuracy;
}

/**
 * Feedback for the embedded client, with the queue client's semantics but no Redis: the last
 * `keep.count` predictions (`keep.maxBytes` of outputs, for at most `keep.ageSeconds`) are kept
 * with their outputs, owner and first feedback; accuracy sums live in one-minute buckets per
 * version for ACCURACY_KEPT_MS. A prediction no longer kept is ERR_PREDICTION_NOT_FOUND, as a
 * trimmed job is on the queue.
 */
export function createFeedbackMemory(
  keep: PredictionsKept,
  labelsOf: (model: string, version: string, output: string) => readonly string[] | undefined,
): FeedbackMemory {
  const kept = new Map<string, KeptPrediction>();
  /** Per model: `<version>|<bucket>` to that bucket's sums. */
  const counts = new Map<string, Map<string, Bucket>>();
  let keptBytes = 0;
  let lastMs = 0;
  let seq = 0;

  // Map order is insertion order, so the oldest predictions come first.
  const trim = (now: number) => {
    for (const [id, prediction] of kept) {
      const old = now - prediction.keptAt > keep.ageSeconds * 1000;
      if (kept.size <= keep.count && keptBytes <= keep.maxBytes && !old) break;
      kept.delete(id);
      keptBytes -= prediction.bytes;
    }
  };

  /** An entry id of the form a stream gives (`<ms>-<seq>`), increasing. */
  const nextEntryId = (now: number) => {
    if (now > lastMs) [lastMs, seq] = [now, 0];
    else seq += 1;
    return `${lastMs}-${seq}`;
  };

  const count = (model: string, version: string, add: Partial<AccuracySums>, now: number) => {
    let buckets = counts.get(model);
    if (!buckets) counts.set(model, (buckets = new Map<string, Bucket>()));
    for (const [key, { bucket }] of buckets)
      if (bucket < now - ACCURACY_KEPT_MS) buckets.delete(key);
    const bucket = accuracyBucketOf(now);
    const key = `${version}|${bucket}`;
    let entry = buckets.get(key);
    if (!entry)
      buckets.set(key, (entry = { version, bucket, sums: { n: 0, c: 0, r: 0, a: 0, s: 0 } }));
    for (const stat of Object.keys(add) as (keyof AccuracySums)[])
      entry.sums[stat] += add[stat] ?? 0;
  };

  return {
    keep(prediction, owner) {
      if (keep.count === 0 || kept.has(prediction.jobId)) return;
      const { version, outputs } = prediction;
      const bytes = bytesOf(outputs);
      // One too large to keep at all would otherwise push out every other.
      if (bytes > keep.maxBytes) return;
      const now = Date.now();
      kept.set(prediction.jobId, { version, outputs, owner, keptAt: now, bytes });
      keptBytes += bytes;
      trim(now);
    },
    feedback(id, input, options = {}) {
      const jobId = parseOrThrow(JobIdSchema, id, 'prediction id');
      const feedback = parseOrThrow(FeedbackSchema, input, 'feedback');
      const { model } = routeOfJobId(jobId);
      const now = Date.now();
      trim(now);
      const prediction = kept.get(jobId);
      if (!prediction || (options.owner !== undefined && prediction.owner !== options.owner))
        throw new ConveyorError(
          'ERR_PREDICTION_NOT_FOUND',
          `no prediction ${jobId}: the embedded client keeps its last ${keep.count} predictions (${keep.maxBytes} bytes of outputs) for ${keep.ageSeconds} s (keepPredictions)`,
          { details: { id: jobId, model } },
        );
      const { version } = prediction;
      const score = scoreFeedback(prediction.outputs, feedback, (output) =>
        labelsOf(model, version, output),
      );
      const item = { jobId, model, version, feedback, score };
      if (prediction.first) return answerRepeatedFeedback(item, prediction.first);
      const receipt = feedbackReceiptOf(item);
      const entryId = nextEntryId(now);
      prediction.first = { entryId, truth: feedbackTruth(item), receipt };
      count(model, version, sumsOfScore(score), now);
      return { ...receipt, entryId };
    },
    accuracy(model, options = {}) {
      const name = parseOrThrow(ModelNameSchema, model, 'model name');
      const query = parseOrThrow(AccuracyQuerySchema, options, 'accuracy options');
      const at = query.at ?? Date.now();
      return accuracyOverWindows(name, at, counts.get(name)?.values() ?? []);
    },
  };
}
