import type { ClientOptions } from '@conveyor/sdk';
import { clientRedisOf, type Config, type Logger } from '@conveyor/shared';

/** The SDK client options the producer's configuration implies, so jobs it enqueues follow the env. */
export function clientOptionsFromConfig(config: Config, logger: Logger): ClientOptions {
  return {
    ...clientRedisOf(config),
    prefix: config.REDIS_KEY_PREFIX,
    timeoutMs: config.PREDICT_TIMEOUT_MS,
    maxTensorBytes: config.MAX_TENSOR_BYTES,
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
    keepCompleted: { count: config.KEEP_COMPLETED_JOBS, ageSeconds: config.KEEP_COMPLETED_AGE_S },
    keepFailed: { count: config.KEEP_FAILED_JOBS, ageSeconds: config.KEEP_FAILED_AGE_S },
    eventsMaxLen: config.EVENTS_MAX_LEN,
    feedbackMaxLen: config.FEEDBACK_MAX_LEN,
    shadowSample: config.SHADOW_SAMPLE,
    modelExpiryMs: config.MODEL_EXPIRY_MS,
    // Jobs accepted with 202 are waited for (if ever) by other requests, often on other
    // producers: keeping their ends would mean reading every event of every queue meanwhile.
    keepJobEnds: false,
    logger,
  };
}
