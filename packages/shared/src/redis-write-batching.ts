import type { Duplex } from 'node:stream';
import type { Redis } from 'ioredis';
import { isCluster, type RedisClient } from './redis-client.js';

type Write = Duplex['write'];

/**
 * Corks `socket` at its first write of an event-loop turn and uncorks it once the turn's I/O
 * callbacks have run (setImmediate), so the commands of that turn leave in one write.
 */
function corkPerTurn(socket: Duplex): void {
  const write = socket.write.bind(socket);
  let corked = false;
  const corkingWrite = (...args: Parameters<Write>): boolean => {
    if (!corked && !socket.destroyed) {
      corked = true;
      socket.cork();
      setImmediate(() => {
        corked = false;
        socket.uncork();
      });
    }
    return write(...args);
  };
  socket.write = corkingWrite as Write;
}

/** Every socket `redis` connects with from now on (each reconnect opens a new one) corks per turn. */
function batchNodeWrites(redis: Redis): void {
  redis.on('connect', () => corkPerTurn(redis.stream));
}

/**
 * Commands a process issues in one turn of its event loop (many HTTP requests accepted, a batch
 * of jobs finished) leave in one socket write instead of one write each. ioredis writes every
 * command at once; on loopback each write costs tens of microseconds of kernel time, which was the
 * producer's largest single cost per accepted job. Order and replies are unchanged: it is the same
 * socket, written in the same sequence, only later in the same turn. Call it before the client
 * connects. A cluster's connections are left as they are: with them batched, the cluster failover
 * test saw MOVED errors reach callers instead of being followed (cause not yet found).
 */
export function batchWritesPerTurn(client: RedisClient): void {
  if (!isCluster(client)) batchNodeWrites(client);
}
