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
  sumsOfScore,
  type FeedbackReceipt,
  type ScoredFeedback,
  type Tensor,
} from '@conveyor/shared';

/**
 * Once per prediction: when its marker (KEYS[4]) is set, returns `{0, marker}` and writes nothing.
 * Else appends a feedback entry (XADD MAXLEN ~), adds its sums (sumsOfScore, as the embedded client
 * counts them) to the accuracy counts of its version's current bucket (accuracyBucketOf of the
 * Redis server's clock), drops the counts of buckets older than the longest window, sets the marker
 * to `<entry id> <ARGV[6]>` for ARGV[5] ms and returns `{1, entry id}`. KEYS: 1 feedback stream,
 * 2 accuracy hash, 3 its buckets, 4 the marker, all of one model's hash slot. ARGV: 1 stream
 * length, 2 version, 3 bucket ms, 4 ms kept, 5 marker ms, 6 marker text, 7 the number k of sums,
 * then k stat and value pairs, then the entry's field and value pairs.
 */
const RECORD = `
local first = redis.call('GET', KEYS[4])
if first then return {0, first} end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local bucket = ms - ms % tonumber(ARGV[3])
local k = tonumber(ARGV[7])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 8 + 2 * k))
local member = ARGV[2] .. '|' .. bucket
for i = 0, k - 1 do
  redis.call('HINCRBYFLOAT', KEYS[2], member .. '|' .. ARGV[8 + 2 * i], ARGV[9 + 2 * i])
end
redis.call('ZADD', KEYS[3], bucket, member)
local cutoff = '(' .. (ms - tonumber(ARGV[4]))
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', cutoff)) do
  redis.call('HDEL', KEYS[2], old .. '|n', old .. '|c', old .. '|r', old .. '|a', old .. '|s')
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', cutoff)
redis.call('SET', KEYS[4], id .. ' ' .. ARGV[6], 'PX', ARGV[5])
return {1, id}
`;

type RecordCommand = (
  stream: string,
  counts: string,
  buckets: string,
  marker: string,
  maxLen: number,
  version: string,
  bucketMs: number,
  keptMs: number,
  markerMs: number,
  markerText: string,
  sums: number,
  ...pairsThenFields: (string | number | Buffer)[]
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
  const sums = Object.entries(sumsOfScore(score));
  const [written, reply] = await command.call(
    redis,
    feedbackKey(prefix, item.model),
    accuracyKey(prefix, item.model),
    accuracyBucketsKey(prefix, item.model),
    feedbackOnceKey(prefix, item.model, item.jobId),
    store.maxLen,
    item.version,
    ACCURACY_BUCKET_MS,
    ACCURACY_KEPT_MS,
    FEEDBACK_ONCE_MS,
    JSON.stringify({ truth, receipt }),
    sums.length,
    ...sums.flat(),
    ...encodeFeedbackEntry(item),
  );
  if (Number(written) === 1) return { ...receipt, entryId: String(reply) };
  return answerRepeat(item, String(reply));
}
