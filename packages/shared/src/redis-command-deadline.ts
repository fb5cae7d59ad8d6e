import type { Redis } from 'ioredis';

type Command = Parameters<Redis['sendCommand']>[0];

/** Checks of the pending commands per timeout: a command fails within 1/8 of it past its time. */
const CHECKS_PER_TIMEOUT = 8;

/** The error ioredis's own `commandTimeout` rejects with. */
const timedOut = () => new Error('Command timed out');

/**
 * ioredis's `commandTimeout`, with one timer per connection instead of one per command: every
 * command sent through `redis` that has no reply `timeoutMs` after it was sent (to within an
 * eighth of that) is rejected, as ioredis rejects it. ioredis starts and clears a timer for each
 * command, a pipeline's too; a client adding 250 jobs in one call set 250 timers, and the bench's
 * iris driver spent about 8 µs of CPU per job on them and their collection. Replies come in the
 * order commands were sent, so the oldest pending command is the first to check; the timer runs
 * only while some command is pending, and never holds the process open.
 */
export function enforceCommandDeadlines(redis: Redis, timeoutMs: number): void {
  const commands: Command[] = [];
  const deadlines: number[] = [];
  let timer: NodeJS.Timeout | undefined;

  const check = () => {
    const now = Date.now();
    let done = 0;
    for (; done < commands.length; done++) {
      const command = commands[done] as Command;
      if (command.isSettled) continue;
      // Later commands were sent later: none of them is due yet either.
      if ((deadlines[done] as number) > now) break;
      command.reject(timedOut());
    }
    commands.splice(0, done);
    deadlines.splice(0, done);
    if (commands.length === 0) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    const sent = send(command, stream);
    if (!command.isSettled) {
      commands.push(command);
      deadlines.push(Date.now() + timeoutMs);
      if (timer === undefined) {
        timer = setInterval(check, Math.max(1, Math.floor(timeoutMs / CHECKS_PER_TIMEOUT)));
        timer.unref();
      }
    }
    return sent;
  };
}
