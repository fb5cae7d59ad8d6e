import { ConveyorError } from './errors.js';
import type { Feedback, FeedbackReceipt } from './feedback.js';
import type { FeedbackScore } from './feedback-score.js';

/** A feedback to count once: the prediction it is about, the truth as sent and how it scored. */
export interface ScoredFeedback {
  jobId: string;
  model: string;
  version: string;
  feedback: Feedback;
  score: FeedbackScore;
}

/** The first feedback of a prediction, as the once-per-prediction rule compares it. */
export interface FirstFeedback {
  entryId: string;
  /** feedbackTruth of the first feedback. */
  truth: string;
  receipt: Omit<FeedbackReceipt, 'entryId'>;
}

/**
 * The truth compared between two feedbacks of one prediction: its kind, the output scored and one
 * truth per row (`{ label: 2 }` and `{ label: [2] }` are the same truth; `2` and `"virginica"` are
 * not, even where they name one class).
 */
export function feedbackTruth(item: ScoredFeedback): string {
  const truth = item.feedback.label ?? item.feedback.value;
  return JSON.stringify([
    item.score.kind,
    item.score.output,
    Array.isArray(truth) ? truth : [truth],
  ]);
}

/** A feedback's receipt, less the id of the entry that stores it. */
export function feedbackReceiptOf(item: ScoredFeedback): Omit<FeedbackReceipt, 'entryId'> {
  const { score } = item;
  return {
    id: item.jobId,
    model: item.model,
    version: item.version,
    kind: score.kind,
    rows: score.rows,
    ...(score.kind === 'label'
      ? { correct: score.correct }
      : { meanAbsoluteError: score.absSum / score.rows }),
  };
}

/**
 * A repeated feedback's answer: the first receipt when it brings the same truth, else
 * ERR_FEEDBACK_EXISTS (naming the first feedback's entry).
 */
export function answerRepeatedFeedback(
  item: ScoredFeedback,
  first: FirstFeedback,
): FeedbackReceipt {
  if (first.truth !== feedbackTruth(item))
    throw new ConveyorError(
      'ERR_FEEDBACK_EXISTS',
      `prediction ${item.jobId} already has feedback (entry ${first.entryId}) with another truth`,
      { details: { id: item.jobId, model: item.model, entryId: first.entryId } },
    );
  return { ...first.receipt, entryId: first.entryId };
}
