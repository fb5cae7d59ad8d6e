import type { ConveyorError } from '@conveyor/shared';
import type { Connection } from './connection.js';
import type { Deadlines } from './deadlines.js';
import type { EventHub } from './events.js';
import type { QueueCache } from './queues.js';
import type { OutputReader } from './results.js';

/** What the parts of one queue client share. */
export interface QueueContext extends Connection {
  queues: QueueCache;
  hub: EventHub;
  outputs: OutputReader;
  /** Pending result() waits, so close() can reject them with ERR_CLOSED. */
  waits: Set<{ fail(error: ConveyorError): void }>;
  /** Their timeouts. */
  deadlines: Deadlines;
  /** Throws ERR_CLOSED once the client is closed. */
  assertOpen: () => void;
}
