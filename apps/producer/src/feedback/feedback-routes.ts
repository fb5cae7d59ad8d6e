import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { QueueClient } from '@conveyor/sdk';
import {
  FeedbackReceiptSchema,
  FeedbackSchema,
  JobIdSchema,
  ModelAccuracySchema,
  ModelNameSchema,
} from '@conveyor/shared';
import { ErrorBodySchema } from '../oip/schemas.js';
import { ownerOf } from '../plugins/auth.js';

export interface FeedbackRoutesOptions {
  client: Pick<QueueClient, 'feedback' | 'accuracy'>;
}

const errors = {
  400: ErrorBodySchema,
  401: ErrorBodySchema,
  403: ErrorBodySchema,
  503: ErrorBodySchema,
};

/**
 * `POST /v1/predictions/{id}/feedback` attaches the truth to a prediction (`client.feedback()`);
 * `GET /v1/models/{name}/accuracy` reads the live accuracy and error it feeds
 * (`client.accuracy()`). Both take the `infer` scope.
 */
export const feedbackRoutes: FastifyPluginCallbackZod<FeedbackRoutesOptions> = (
  app,
  options,
  done,
) => {
  app.post(
    '/v1/predictions/:id/feedback',
    {
      schema: {
        summary: 'Attach the true label or value to a prediction',
        description:
          'Body `{ "label": 2 }` or `{ "label": "virginica" }` (one per row, or one for a single-row prediction) for a classifier, `{ "value": 3.2 }` for a regression; `output` names the output scored (default the first). The prediction must still be in its model\'s prediction log, or its job still kept, and have been made with the same API key (an admin key may send feedback for any): 404 ERR_PREDICTION_NOT_FOUND otherwise. A prediction takes one feedback: the same truth again answers the first receipt (same `entryId`) and counts nothing; another truth is 409 ERR_FEEDBACK_EXISTS. This holds for 25 hours, longer than the longest accuracy window.',
        params: z.object({ id: JobIdSchema }).strict(),
        body: FeedbackSchema,
        response: {
          200: FeedbackReceiptSchema,
          404: ErrorBodySchema,
          409: ErrorBodySchema,
          ...errors,
        },
      },
    },
    (request) =>
      options.client.feedback(
        request.params.id,
        request.body,
        // Predictions belong to the key that made them, as jobs do (mayReadJob); admin sees all.
        request.principal?.scope === 'admin' ? {} : ownerOf(request),
      ),
  );

  app.get(
    '/v1/models/:name/accuracy',
    {
      schema: {
        summary: 'Live accuracy (classification) and error (regression) per version',
        description:
          'From the feedback received, per version, over the last 5 minutes, hour and 24 hours (whole one-minute buckets, by the Redis server clock). A model without feedback has an empty `versions`.',
        params: z.object({ name: ModelNameSchema }).strict(),
        response: { 200: ModelAccuracySchema, ...errors },
      },
    },
    (request) => options.client.accuracy(request.params.name),
  );
  done();
};
