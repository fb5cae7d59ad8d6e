import type { Engine } from '@conveyor/engine';
import {
  encodeLogEntry,
  predictionLogBytesKey,
  predictionLogIndexKey,
  predictionLogKey,
  type Config,
  type Logger,
  type RedisClient,
} from '@conveyor/shared';
import type { PredictionObserver } from './prediction-observer.js';

/**
 * Appends one entry to a model's prediction log and trims the oldest entries while the log holds
 * more than its entries or its bytes allow, keeping the byte counter and the job index exact: the
 * log is trimmed here, entry by entry, not by XADD MAXLEN ~, whose trimmed entries no counter
 * could account for. The new entry itself is never trimmed.
 *
 * KEYS: 1 the stream, 2 its byte counter, 3 the index (job id -> entry id). ARGV: 1 max entries,
 * 2 max bytes, 3 the entry's bytes, then its field and value pairs, the first being `id` and the
 * job id (see encodeLogEntry).
 * Returns the number of entries trimmed.
 */
const APPEND = `
local size = tonumber(ARGV[3])
local id = redis.call('XADD', KEYS[1], '*', 'n', ARGV[3], unpack(ARGV, 4))
redis.call('HSET', KEYS[3], ARGV[5], id)
local total = redis.call('INCRBY', KEYS[2], size)
local maxLen, maxBytes = tonumber(ARGV[1]), tonumber(ARGV[2])
local len = redis.call('XLEN', KEYS[1])
local cursor, trimmed = '-', 0
while len > maxLen or total > maxBytes do
  local first = redis.call('XRANGE', KEYS[1], cursor, '+', 'COUNT', 1)[1]
  if not first or first[1] == id then break end
  local fields, n, job = first[2], 0, nil
  for i = 1, #fields, 2 do
    if fields[i] == 'n' then n = tonumber(fields[i + 1]) elseif fields[i] == 'id' then job = fields[i + 1] end
  end
  if job and redis.call('HGET', KEYS[3], job) == first[1] then redis.call('HDEL', KEYS[3], job) end
  total = redis.call('DECRBY', KEYS[2], n)
  cursor = '(' .. first[1]
  len = len - 1
  trimmed = trimmed + 1
end
if trimmed > 0 then
  local keep = redis.call('XRANGE', KEYS[1], cursor, '+', 'COUNT', 1)[1]
  redis.call('XTRIM', KEYS[1], 'MINID', keep[1])
end
return trimmed
`;

type AppendCommand = (
  stream: string,
  bytesKey: string,
  index: string,
  maxLen: number,
  maxBytes: number,
  size: number,
  ...fields: (string | Buffer)[]
) => Promise<number>;

/**
 * Bytes an entry costs besides its fields and values: its `n` field, its index entry (job id and
 * entry id) and the stream's per-entry overhead, roughly.
 */
const ENTRY_OVERHEAD_BYTES = 64;

/** Appends past this many writes still in flight are dropped: a slow Redis never piles them up. */
export const PREDICTION_LOG_MAX_PENDING = 256;

/** The prediction log's settings; a test may shrink them. */
export interface PredictionLogLimits {
  /** Default share of predictions logged (PREDICTION_LOG_SAMPLE). */
  sample: number;
  maxLen: number;
  maxBytes: number;
}

/**
 * The observer that writes sampled predictions to their model's prediction log
 * (`modelKey(prefix, model, 'log')`). The share logged is model.json's `log.sample`, else
 * PREDICTION_LOG_SAMPLE. Entries larger than the whole byte budget, and entries past
 * PREDICTION_LOG_MAX_PENDING writes in flight, are skipped.
 */
export function createPredictionLog(options: {
  connection: Pick<RedisClient, 'defineCommand'>;
  config: Config;
  engine: Pick<Engine, 'models'>;
  log: Logger;
  limits?: Partial<PredictionLogLimits>;
  /** Draws a number in [0, 1) per job; Math.random by default. */
  random?: () => number;
}): PredictionObserver {
  const { connection, config, engine, log } = options;
  const limits: PredictionLogLimits = {
    sample: config.PREDICTION_LOG_SAMPLE,
    maxLen: config.PREDICTION_LOG_MAX_LEN,
    maxBytes: config.PREDICTION_LOG_MAX_BYTES,
    ...options.limits,
  };
  const random = options.random ?? Math.random;
  const prefix = config.REDIS_KEY_PREFIX;
  if (!('conveyorLogPrediction' in connection))
    connection.defineCommand('conveyorLogPrediction', { numberOfKeys: 3, lua: APPEND });
  const append = (connection as unknown as { conveyorLogPrediction: AppendCommand })
    .conveyorLogPrediction;
  let pending = 0;
  const sampleOf = (model: string, version: string): number => {
    const served = engine.models.get(model)?.find((v) => v.entry.version === version);
    return served?.entry.config.log?.sample ?? limits.sample;
  };
  return {
    wants(model, version, payload) {
      // A shadow copy is compared, not served; a replay's job (log: false) would feed the log
      // its own answers.
      if (payload.shadowOf !== undefined || payload.unlogged) return 'no';
      const sample = sampleOf(model, version);
      return sample > 0 && random() < sample ? 'inputs' : 'no';
    },
    async completed(prediction) {
      const { fields, bytes } = encodeLogEntry({
        jobId: prediction.jobId,
        version: prediction.version,
        inputs: prediction.inputs,
        outputs: prediction.outputs,
        queuedMs: prediction.queuedMs,
        inferenceMs: prediction.inferenceMs,
        traceId: prediction.traceId,
        owner: prediction.payload.owner,
        completedAt: prediction.completedAt,
      });
      const size = bytes + ENTRY_OVERHEAD_BYTES;
      const { model, jobId } = prediction;
      if (size > limits.maxBytes || pending >= PREDICTION_LOG_MAX_PENDING) {
        log.debug({ model, jobId, bytes: size, pending }, 'prediction not logged');
        return;
      }
      pending += 1;
      try {
        await append.call(
          connection,
          predictionLogKey(prefix, model),
          predictionLogBytesKey(prefix, model),
          predictionLogIndexKey(prefix, model),
          limits.maxLen,
          limits.maxBytes,
          size,
          ...fields,
        );
      } finally {
        pending -= 1;
      }
    },
  };
}
