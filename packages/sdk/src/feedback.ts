import type { Redis } from 'ioredis';
import {
  ACCURACY_BUCKET_MS,
  ACCURACY_WINDOWS,
  ConveyorError,
  FeedbackSchema,
  JobIdSchema,
  accuracyBucketsKey,
  accuracyKey,
  encodeFeedbackEntry,
  feedbackKey,
  parseOrThrow,
  routeOfJobId,
  scoreFeedback,
  type FeedbackReceipt,
  type Tensor,
} from '@conveyor/shared';
import { findLoggedPrediction, type PredictionLogRedis } from './prediction-log.js';

/**
 * Appends a feedback entry (XADD MAXLEN ~) and adds its score to the accuracy counts of its
 * version's current bucket (by the Redis server's clock); drops the counts of buckets older than
 * the longest window. KEYS: 1 feedback stream, 2 accuracy hash, 3 its buckets. ARGV: 1 stream
 * length, 2 version, 3 kind (label | value), 4 rows, 5 correct rows or sum of absolute errors,
 * 6 sum of squared errors, 7 bucket ms, 8 ms kept, then the entry's field and value pairs.
 * Returns the entry id.
 */
const RECORD = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local bucket = ms - ms % tonumber(ARGV[7])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 9))
local member = ARGV[2] .. '|' .. bucket
if ARGV[3] == 'label' then
  redis.call('HINCRBY', KEYS[2], member .. '|n', ARGV[4])
  redis.call('HINCRBY', KEYS[2], member .. '|c', ARGV[5])
else
  redis.call('HINCRBY', KEYS[2], member .. '|r', ARGV[4])
  redis.call('HINCRBYFLOAT', KEYS[2], member .. '|a', ARGV[5])
  redis.call('HINCRBYFLOAT', KEYS[2], member .. '|s', ARGV[6])
end
redis.call('ZADD', KEYS[3], bucket, member)
local cutoff = '(' .. (ms - tonumber(ARGV[8]))
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', cutoff)) do
  redis.call('HDEL', KEYS[2], old .. '|n', old .. '|c', old .. '|r', old .. '|a', old .. '|s')
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', cutoff)
return id
`;

type RecordCommand = (
  stream: string,
  counts: string,
  buckets: string,
  maxLen: number,
  version: string,
  kind: string,
  rows: number,
  score: number,
  sqSum: number,
  bucketMs: number,
  keptMs: number,
  ...fields: (string | Buffer)[]
) => Promise<string>;

/** A completed prediction, as feedback scores it. */
export interface KnownPrediction {
  version: string;
  outputs: Readonly<Record<string, Tensor>>;
  inputs?: Readonly<Record<string, Tensor>> | undefined;
}

/** What recordFeedback needs besides Redis. */
export interface FeedbackDeps {
  redis: PredictionLogRedis & Pick<Redis, 'defineCommand'>;
  prefix: string;
  /** Approximate length of each model's feedback stream (FEEDBACK_MAX_LEN). */
  maxLen: number;
  /** A completed job the queue still keeps, with its inputs when still stored; else undefined. */
  completedJob(id: string): Promise<KnownPrediction | undefined>;
  /** An output's class labels, from the version's signature; undefined when not known. */
  labelsOf(model: string, version: string, output: string): Promise<readonly string[] | undefined>;
}

/**
 * Records the truth about a prediction: finds it (its prediction log entry, else its job while
 * kept), scores it, appends the feedback to its model's feedback stream and counts it towards its
 * version's live accuracy. ERR_VALIDATION for a bad id or feedback, ERR_PREDICTION_NOT_FOUND for
 * an unknown prediction.
 */
export async function recordFeedback(
  deps: FeedbackDeps,
  id: string,
  input: unknown,
): Promise<FeedbackReceipt> {
  const jobId = parseOrThrow(JobIdSchema, id, 'prediction id');
  const feedback = parseOrThrow(FeedbackSchema, input, 'feedback');
  const { model } = routeOfJobId(jobId);
  const logged = await findLoggedPrediction(deps.redis, deps.prefix, jobId);
  const prediction: KnownPrediction | undefined = logged
    ? { version: logged.version, outputs: logged.outputs, inputs: logged.inputs }
    : await deps.completedJob(jobId);
  if (!prediction)
    throw new ConveyorError(
      'ERR_PREDICTION_NOT_FOUND',
      `no prediction ${jobId}: it is not in the prediction log of "${model}" and its job is not a completed job still kept`,
      { details: { id: jobId, model } },
    );
  const output = feedback.output ?? Object.keys(prediction.outputs)[0] ?? '';
  const labels = await deps.labelsOf(model, prediction.version, output);
  const score = scoreFeedback(prediction.outputs, feedback, () => labels);
  const { redis } = deps;
  if (!('conveyorFeedback' in redis))
    redis.defineCommand('conveyorFeedback', { numberOfKeys: 3, lua: RECORD });
  const command = (redis as unknown as { conveyorFeedback: RecordCommand }).conveyorFeedback;
  const entryId = await command.call(
    redis,
    feedbackKey(deps.prefix, model),
    accuracyKey(deps.prefix, model),
    accuracyBucketsKey(deps.prefix, model),
    deps.maxLen,
    prediction.version,
    score.kind,
    score.rows,
    score.kind === 'label' ? score.correct : score.absSum,
    score.kind === 'label' ? 0 : score.sqSum,
    ACCURACY_BUCKET_MS,
    ACCURACY_WINDOWS['24h'] + ACCURACY_BUCKET_MS,
    ...encodeFeedbackEntry({
      jobId,
      version: prediction.version,
      feedback,
      score,
      inputs: prediction.inputs,
    }),
  );
  return {
    id: jobId,
    model,
    version: prediction.version,
    entryId: String(entryId),
    kind: score.kind,
    rows: score.rows,
    ...(score.kind === 'label'
      ? { correct: score.correct }
      : { meanAbsoluteError: score.absSum / score.rows }),
  };
}
