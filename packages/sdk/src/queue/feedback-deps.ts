import type { Catalogue } from '../catalogue.js';
import type { FeedbackDeps } from '../feedback.js';
import type { QueueContext } from './context.js';
import { readJob, settledOutcome } from './job-read.js';
import { readJobRequest } from './job-request.js';

/**
 * What feedback reads through the queue client: a completed job through the one job reader (its
 * outputs, owner, and its inputs while still stored), labels from the catalogue's signatures.
 */
export function feedbackDeps(ctx: QueueContext, catalogue: Catalogue): FeedbackDeps {
  return {
    redis: ctx.redis,
    prefix: ctx.config.prefix,
    maxLen: ctx.config.feedbackMaxLen,
    async completedJob(id) {
      const found = await readJob(ctx, id);
      if (found?.state !== 'completed') return undefined;
      const prediction = settledOutcome(id, found);
      const request = await readJobRequest(ctx, id).catch(() => undefined);
      const { data } = found.stored;
      const owner =
        typeof data === 'object' && data !== null && 'owner' in data ? data.owner : undefined;
      return {
        version: prediction.version,
        outputs: prediction.outputs,
        inputs: request?.inputs,
        owner: typeof owner === 'string' ? owner : undefined,
      };
    },
    async labelsOf(model, version, output) {
      // A version no longer announced has no signature to read: its outputs' labels are unknown.
      const signature = await catalogue.signature(model, version).catch(() => undefined);
      return signature?.outputs.find((o) => o.name === output)?.labels;
    },
  };
}
