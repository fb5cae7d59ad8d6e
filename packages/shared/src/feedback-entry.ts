import { z } from 'zod';
import { ConveyorError } from './errors.js';
import type { Feedback } from './feedback.js';
import type { FeedbackScore } from './feedback-score.js';
import { msOfEntryId, packTensors, unpackTensors } from './prediction-log.js';
import type { Tensor } from './tensor/tensor.js';

/** One entry of a model's feedback stream, decoded: what an online trainer reads. */
export interface FeedbackEntry {
  /** The stream entry id: acknowledge it (XACK) once trained on. */
  entryId: string;
  /** The prediction (job) id. */
  jobId: string;
  model: string;
  /** The version that made the prediction. */
  version: string;
  /** The truth as sent: `{ label }` or `{ value }`, and the output it was scored against. */
  feedback: Feedback;
  /** The prediction's inputs, when they were still known (logged, or its job still kept). */
  inputs?: Record<string, Tensor>;
  /** Rows scored. */
  rows: number;
  /** Rows whose top class was the label (labels only). */
  correct?: number;
  /** Sum of absolute errors over the rows (values only). */
  absoluteError?: number;
  /** When the feedback arrived, ms since the epoch (the Redis server's clock). */
  receivedAt: number;
}

/** A feedback stream entry's field and value pairs. */
export function encodeFeedbackEntry(entry: {
  jobId: string;
  version: string;
  feedback: Feedback;
  score: FeedbackScore;
  inputs?: Readonly<Record<string, Tensor>> | undefined;
}): (string | Buffer)[] {
  const { score } = entry;
  const truth = entry.feedback.label !== undefined ? entry.feedback.label : entry.feedback.value;
  const fields: (string | Buffer)[] = [
    'id',
    entry.jobId,
    'v',
    entry.version,
    'kind',
    score.kind,
    'truth',
    JSON.stringify(truth),
    'output',
    score.output,
    'rows',
    String(score.rows),
    'score',
    String(score.kind === 'label' ? score.correct : score.absSum),
  ];
  if (entry.inputs) {
    const packed = packTensors(entry.inputs);
    fields.push('in', packed.meta, 'inb', packed.bytes);
  }
  return fields;
}

const FieldsSchema = z.object({
  id: z.string().min(1),
  v: z.string().min(1),
  kind: z.enum(['label', 'value']),
  truth: z.string(),
  output: z.string().min(1),
  rows: z.coerce.number().int().nonnegative(),
  score: z.coerce.number().nonnegative(),
  in: z.string().optional(),
});

const Truth = z.union([z.number(), z.string(), z.array(z.union([z.number(), z.string()]))]);

/**
 * Decodes a feedback stream entry as XREADGROUP or XRANGE return it with Buffer replies (field
 * and value pairs). Throws ERR_PAYLOAD_INVALID for an entry that is not feedback.
 */
export function decodeFeedbackEntry(
  model: string,
  entryId: string,
  pairs: readonly Buffer[],
): FeedbackEntry {
  const where = `feedback entry ${entryId} of model "${model}"`;
  const raw: Record<string, Buffer> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2)
    raw[(pairs[i] as Buffer).toString()] = pairs[i + 1] as Buffer;
  const text = Object.fromEntries(
    Object.entries(raw)
      .filter(([field]) => field !== 'inb')
      .map(([field, value]) => [field, value.toString()]),
  );
  try {
    const f = FieldsSchema.parse(text);
    const truth = Truth.parse(JSON.parse(f.truth));
    const feedback: Feedback =
      f.kind === 'label'
        ? { label: truth, output: f.output }
        : { value: truth as number | number[], output: f.output };
    return {
      entryId,
      jobId: f.id,
      model,
      version: f.v,
      feedback,
      ...(f.in !== undefined && {
        inputs: unpackTensors(f.in, raw.inb ?? Buffer.alloc(0), where),
      }),
      rows: f.rows,
      ...(f.kind === 'label' ? { correct: f.score } : { absoluteError: f.score }),
      receivedAt: msOfEntryId(entryId),
    };
  } catch (error) {
    throw new ConveyorError('ERR_PAYLOAD_INVALID', `${where} is not feedback`, {
      cause: error,
      details: { entryId },
    });
  }
}
