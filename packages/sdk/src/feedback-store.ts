import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  ACCURACY_BUCKET_MS,
  ACCURACY_KEPT_MS,
  ConveyorError,
  FEEDBACK_ONCE_MS,
  FeedbackReceiptSchema,
  accuracyBucketsKey,
  accuracyKey,
  answerRepeatedFeedback,
  encodeFeedbackEntry,
  feedbackReceiptOf,
  feedbackTruth,
  feedbackKey,
  feedbackOnceKey,
  type FeedbackReceipt,
  type ScoredFeedback,
  type Tensor,
} from '@conveyor/shared';

/**
 * Once per prediction: when its marker (KEYS[4]) is set, returns `{0, marker}` and writes nothing.
 * Else appends a feedback entry (XADD MAXLEN ~), adds its score to the accuracy counts of its
 * version's current bucket (by the Redis server's clock), drops the counts of buckets older than
 * the longest window, sets the marker to `<entry id> <ARGV[10]>` for ARGV[9] ms and returns
 * `{1, entry id}`. KEYS: 1 feedback stream, 2 accuracy hash, 3 its buckets, 4 the marker, all of
 * one model's hash slot. ARGV: 1 stream length, 2 version, 3 kind (label | value), 4 rows,
 * 5 correct rows or sum of absolute errors, 6 sum of squared errors, 7 bucket ms, 8 ms kept,
 * 9 marker ms, 10 marker text, then the entry's field and value pairs.
 */
const RECORD = `
local first = redis.call('GET', KEYS[4])
if first then return {0, first} end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local bucket = ms - ms % tonumber(ARGV[7])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 11))
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
redis.call('SET', KEYS[4], id .. ' ' .. ARGV[10], 'PX', ARGV[9])
return {1, id}
`;

type RecordCommand = (
  stream: string,
  counts: string,
  buckets: string,
  marker: string,
  maxLen: number,
  version: string,
  kind: string,
  rows: number,
  score: number,
  sqSum: number,
  bucketMs: number,
  keptMs: number,
  markerMs: number,
  markerText: string,
  ...fields: (string | Buffer)[]
) => Promise<[number, string]>;

/** What a marker holds after its entry id: the first receipt (less the entry id) and its truth. */
const MarkerSchema = z
  .object({ truth: z.string(), receipt: FeedbackReceiptSchema.omit({ entryId: true }) })
  .strict();

/** One feedback to store: the scored prediction and the truth as sent. */
export interface StoredFeedback extends ScoredFeedback {
  inputs?: Readonly<Record<string, Tensor>> | undefined;
}

/** The first feedback's receipt when `item` brings its truth again; ERR_FEEDBACK_EXISTS otherwise. */
function answerRepeat(item: StoredFeedback, marker: string): FeedbackReceipt {
  const space = marker.indexOf(' ');
  const entryId = marker.slice(0, space);
  let parsed: z.infer<typeof MarkerSchema>;
  try {
    parsed = MarkerSchema.parse(JSON.parse(marker.slice(space + 1)));
  } catch (error) {
    throw new ConveyorError(
      'ERR_PAYLOAD_INVALID',
      `feedback marker of ${item.jobId} is unreadable`,
      {
        cause: error,
        details: { id: item.jobId },
      },
    );
  }
  return answerRepeatedFeedback(item, { ...parsed, entryId });
}

/** Where and how long feedback is kept. */
export interface FeedbackStore {
  redis: Pick<Redis, 'defineCommand'>;
  prefix: string;
  /** Approximate length of each model's feedback stream (FEEDBACK_MAX_LEN). */
  maxLen: number;
}

/**
 * Stores a prediction's feedback once, in one script: the stream entry, the accuracy counts and
 * the prediction's marker (kept FEEDBACK_ONCE_MS). A repeat with the same truth writes nothing and
 * answers the first receipt; one with another truth is ERR_FEEDBACK_EXISTS.
 */
export async function storeFeedbackOnce(
  store: FeedbackStore,
  item: StoredFeedback,
): Promise<FeedbackReceipt> {
  const { redis, prefix } = store;
  if (!('conveyorFeedbackOnce' in redis))
    redis.defineCommand('conveyorFeedbackOnce', { numberOfKeys: 4, lua: RECORD });
  const command = (redis as unknown as { conveyorFeedbackOnce: RecordCommand })
    .conveyorFeedbackOnce;
  const { score } = item;
  const truth = feedbackTruth(item);
  const receipt = feedbackReceiptOf(item);
  const [written, reply] = await command.call(
    redis,
    feedbackKey(prefix, item.model),
    accuracyKey(prefix, item.model),
    accuracyBucketsKey(prefix, item.model),
    feedbackOnceKey(prefix, item.model, item.jobId),
    store.maxLen,
    item.version,
    score.kind,
    score.rows,
    score.kind === 'label' ? score.correct : score.absSum,
    score.kind === 'label' ? 0 : score.sqSum,
    ACCURACY_BUCKET_MS,
    ACCURACY_KEPT_MS,
    FEEDBACK_ONCE_MS,
    JSON.stringify({ truth, receipt }),
    ...encodeFeedbackEntry(item),
  );
  if (Number(written) === 1) return { ...receipt, entryId: String(reply) };
  return answerRepeat(item, String(reply));
}
