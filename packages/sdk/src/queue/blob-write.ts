import { Command } from 'ioredis';
import type { RedisClient } from '@conveyor/shared';

/** The socket ioredis hands to `toWritable`: the one it writes the returned text to. */
interface Writable {
  write(chunk: string | Uint8Array): unknown;
}

const isWritable = (socket: object): socket is Writable =>
  typeof (socket as Partial<Writable>).write === 'function';

/**
 * A command whose buffer arguments go to the socket as they are. ioredis copies every
 * argument of a command that holds a buffer into one new buffer (`MixedBuffers.toBuffer`): for an
 * image that is a second allocation and copy of its bytes per job, outside the V8 heap, which also
 * brings the scavenges V8 starts on external memory pressure sooner. Here the RESP text before each
 * buffer is written, then the buffer itself, and the rest is returned for ioredis to write;
 * ioredis writes that right after `toWritable` returns, so the command stays contiguous on the
 * socket (and the per-turn cork of `batchWritesPerTurn` sends it in the turn's one writev).
 *
 * Only for `redis.sendCommand` on a client or cluster: a pipeline or transaction calls
 * `toWritable` with the connection's socket but writes the result into its own buffer, which
 * would put the large buffers ahead of the commands queued before them.
 */
class SplitBufferCommand extends Command {
  override toWritable(socket: object): string | Buffer {
    if (!isWritable(socket)) return super.toWritable(socket);
    const { args } = this;
    let text = `*${args.length + 1}\r\n$${Buffer.byteLength(this.name)}\r\n${this.name}\r\n`;
    for (const arg of args) {
      if (Buffer.isBuffer(arg)) {
        socket.write(`${text}$${arg.length}\r\n`);
        socket.write(arg);
        text = '\r\n';
      } else {
        const value = String(arg);
        text += `$${Buffer.byteLength(value)}\r\n${value}\r\n`;
      }
    }
    return text;
  }
}

/**
 * `SET key bytes EX ttlSeconds NX` with `bytes` written to the socket without a copy. The key must
 * be the full key (the client has no `keyPrefix`). Resolves with 'OK', or null when the key exists.
 */
export function setBlob(
  redis: RedisClient,
  key: string,
  bytes: Buffer,
  ttlSeconds: number,
): Promise<unknown> {
  const command = new SplitBufferCommand('set', [key, bytes, 'EX', ttlSeconds, 'NX'], {
    replyEncoding: 'utf8',
  });
  void redis.sendCommand(command);
  return command.promise;
}
