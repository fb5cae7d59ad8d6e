import type { Redis } from 'ioredis';
import {
  ConveyorError,
  FeedbackSchema,
  JobIdSchema,
  parseOrThrow,
  routeOfJobId,
  scoreFeedback,
  type FeedbackReceipt,
  type Tensor,
} from '@conveyor/shared';
import { storeFeedbackOnce, type FeedbackStore } from './feedback-store.js';
import { findLoggedPrediction, type PredictionLogRedis } from './prediction-log.js';

/** A completed prediction, as feedback scores it. */
export interface KnownPrediction {
  version: string;
  outputs: Readonly<Record<string, Tensor>>;
  inputs?: Readonly<Record<string, Tensor>> | undefined;
  /** The API key that enqueued it (its job's `owner`); undefined when none was named. */
  owner?: string | undefined;
}

/** What recordFeedback needs besides Redis. */
export interface FeedbackDeps extends FeedbackStore {
  redis: PredictionLogRedis & Pick<Redis, 'defineCommand'>;
  /** A completed job the queue still keeps, with its inputs when still stored; else undefined. */
  completedJob(id: string): Promise<KnownPrediction | undefined>;
  /** An output's class labels, from the version's signature; undefined when not known. */
  labelsOf(model: string, version: string, output: string): Promise<readonly string[] | undefined>;
}

/** Options of a feedback call. */
export interface FeedbackOptions {
  /**
   * Only a prediction enqueued with this `owner` (an API key's name) takes the feedback; any other
   * is ERR_PREDICTION_NOT_FOUND, so its id tells nothing. Default: every prediction.
   */
  owner?: string | undefined;
}

/**
 * Records the truth about a prediction, once: finds it (its prediction log entry, else its job
 * while kept), scores it, and in one script appends the feedback to its model's feedback stream,
 * counts it towards its version's live accuracy and marks the prediction for FEEDBACK_ONCE_MS.
 * The same truth again answers the first receipt and counts nothing. ERR_VALIDATION for a bad id
 * or feedback, ERR_PREDICTION_NOT_FOUND for an unknown prediction (or another owner's),
 * ERR_FEEDBACK_EXISTS for another truth than the first.
 */
export async function recordFeedback(
  deps: FeedbackDeps,
  id: string,
  input: unknown,
  options: FeedbackOptions = {},
): Promise<FeedbackReceipt> {
  const jobId = parseOrThrow(JobIdSchema, id, 'prediction id');
  const feedback = parseOrThrow(FeedbackSchema, input, 'feedback');
  const { model } = routeOfJobId(jobId);
  const logged = await findLoggedPrediction(deps.redis, deps.prefix, jobId);
  const prediction: KnownPrediction | undefined = logged ?? (await deps.completedJob(jobId));
  if (!prediction || (options.owner !== undefined && prediction.owner !== options.owner))
    throw new ConveyorError(
      'ERR_PREDICTION_NOT_FOUND',
      `no prediction ${jobId}: it is not in the prediction log of "${model}" and its job is not a completed job still kept`,
      { details: { id: jobId, model } },
    );
  const output = feedback.output ?? Object.keys(prediction.outputs)[0] ?? '';
  const labels = await deps.labelsOf(model, prediction.version, output);
  const score = scoreFeedback(prediction.outputs, feedback, () => labels);
  return storeFeedbackOnce(deps, {
    jobId,
    model,
    version: prediction.version,
    feedback,
    score,
    inputs: prediction.inputs,
  });
}
