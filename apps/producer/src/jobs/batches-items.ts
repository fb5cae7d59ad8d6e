import type { BulkItem } from '@conveyor/sdk';
import {
  ConveyorError,
  isConveyorError,
  parseOrThrow,
  zodIssues,
  type Config,
} from '@conveyor/shared';
import { ndjsonLines } from './batches-ndjson.js';
import { BatchBodySchema, BatchItemSchema, BatchQuerySchema } from './batches-schemas.js';
import { toJobInputs } from './jobs-inputs.js';
import { JobParametersSchema, type JobParameters } from './jobs-schemas.js';

/** Re-labels an item's error with where it was in the request: `items.3` or `line 4`. */
export function relabel(error: unknown, label: string, details: Record<string, unknown>): unknown {
  if (!isConveyorError(error)) return error;
  const message = error.message.replace(/^item [0-9]+: /, '');
  return new ConveyorError(error.code, `${label}: ${message}`, {
    cause: error,
    details: { ...error.details, ...details },
    issues: error.issues.map((i) => ({ path: `${label}.${i.path}`, message: i.message })),
  });
}

/** A batch's items, converted for the SDK, with where each was in the request. */
export interface BatchItems {
  items: BulkItem[];
  /** `items.3` or `line 4`, per item. */
  labels: string[];
  parameters: JobParameters | undefined;
}

/**
 * Reads and checks a batch's items: a JSON body `{ items, parameters? }`, or NDJSON (one item per
 * line, read as it streams in, parameters in the query string). The first bad item refuses the
 * batch, named by its label.
 */
export async function readItems(
  body: unknown,
  ndjson: boolean,
  query: Record<string, unknown>,
  config: Pick<Config, 'MAX_TENSOR_BYTES' | 'MAX_BODY_BYTES' | 'BATCH_MAX_ITEMS'>,
): Promise<BatchItems> {
  const items: BulkItem[] = [];
  const labels: string[] = [];
  const add = (value: unknown, label: string, details: Record<string, unknown>) => {
    if (items.length >= config.BATCH_MAX_ITEMS) {
      throw new ConveyorError(
        'ERR_VALIDATION',
        `${label}: a batch holds at most ${config.BATCH_MAX_ITEMS} items (BATCH_MAX_ITEMS)`,
        { issues: [{ path: label, message: 'is over BATCH_MAX_ITEMS' }], details },
      );
    }
    const parsed = BatchItemSchema.safeParse(value);
    if (!parsed.success) {
      const issues = zodIssues(parsed.error, [label]);
      throw new ConveyorError(
        'ERR_VALIDATION',
        `${label} is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
        { issues, details },
      );
    }
    try {
      const item: BulkItem = { inputs: toJobInputs(parsed.data.inputs, config.MAX_TENSOR_BYTES) };
      if (parsed.data.idempotency_key !== undefined)
        item.idempotencyKey = parsed.data.idempotency_key;
      items.push(item);
      labels.push(label);
    } catch (error) {
      throw relabel(error, label, details);
    }
  };

  if (ndjson) {
    const parameters = parseOrThrow(
      JobParametersSchema,
      parseOrThrow(BatchQuerySchema, query, 'query string'),
      'query string',
    );
    for await (const { line, value } of ndjsonLines(
      body as AsyncIterable<Buffer>,
      config.MAX_BODY_BYTES,
    ))
      add(value, `line ${line}`, { line });
    return { items, labels, parameters };
  }
  if (Object.keys(query).length > 0) {
    throw new ConveyorError(
      'ERR_VALIDATION',
      'a JSON batch takes its parameters in the body; the query string is for NDJSON batches',
      { issues: [{ path: 'querystring', message: 'must be empty for a JSON body' }] },
    );
  }
  const parsed = parseOrThrow(BatchBodySchema, body, 'request body');
  parsed.items.forEach((value, index) => add(value, `items.${index}`, { index }));
  return { items, labels, parameters: parsed.parameters };
}
