import { ModelNameSchema } from './schemas/names.js';

/** The BullMQ queue that holds jobs for one model (BullMQ forbids ":" in queue names). */
export function queueName(model: string): string {
  return `predict.${ModelNameSchema.parse(model)}`;
}

/** The model a queue name belongs to, or undefined for other queues. */
export function modelOfQueue(queue: string): string | undefined {
  return queue.startsWith('predict.') ? queue.slice('predict.'.length) : undefined;
}

/** The Redis hash where workers publish the signature of each model version they serve. */
export function catalogueKey(prefix: string): string {
  return `${prefix}:catalogue`;
}
