import { hashTagOf } from './naming.js';

export interface PerTurnOptions<Req, Res> {
  /** The Redis key a request reads: requests of one cluster slot (hash tag) are sent together. */
  keyOf: (request: Req) => string;
  /** One answer per request of `group`, in order; a rejection rejects every request of it. */
  send: (group: Req[]) => Promise<Res[]>;
  /** How much of a command a request takes (default 1), and the most one command takes. */
  weightOf?: (request: Req) => number;
  maxWeight?: number;
}

interface Pending<Req, Res> {
  request: Req;
  resolve: (answer: Res) => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers the requests of one event-loop turn and sends them once its I/O callbacks have run
 * (setImmediate), a group per cluster slot (hash tag) of at most `maxWeight`: a burst of one
 * moment (a worker's finished batch ending its jobs and starting the next ones, a client's burst
 * of completions) makes one command or pipeline per slot instead of one per request. Each request
 * gets its own answer, or the error of the group that carried it.
 */
export function perTurn<Req, Res>({
  keyOf,
  send,
  weightOf = () => 1,
  maxWeight = Number.POSITIVE_INFINITY,
}: PerTurnOptions<Req, Res>): (request: Req) => Promise<Res> {
  let pending: Pending<Req, Res>[] = [];

  const sendGroup = async (group: Pending<Req, Res>[]) => {
    try {
      const answers = await send(group.map((p) => p.request));
      group.forEach((p, i) => p.resolve(answers[i] as Res));
    } catch (error) {
      for (const p of group) p.reject(error);
    }
  };

  const flush = () => {
    const requests = pending;
    pending = [];
    const groups = new Map<string, { members: Pending<Req, Res>[]; weight: number }[]>();
    for (const p of requests) {
      const tag = hashTagOf(keyOf(p.request));
      const weight = weightOf(p.request);
      const lists = groups.get(tag) ?? [];
      const last = lists.at(-1);
      if (last && last.weight + weight <= maxWeight) {
        last.members.push(p);
        last.weight += weight;
      } else lists.push({ members: [p], weight });
      groups.set(tag, lists);
    }
    for (const lists of groups.values()) for (const group of lists) void sendGroup(group.members);
  };

  return (request) =>
    new Promise<Res>((resolve, reject) => {
      if (pending.length === 0) setImmediate(flush);
      pending.push({ request, resolve, reject });
    });
}
