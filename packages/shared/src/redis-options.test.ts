import { describe, expect, it } from 'vitest';
import { isConveyorError, ConveyorError } from './errors.js';
import {
  PRODUCER_COMMAND_TIMEOUT_MS,
  RedisTimeoutError,
  redisAddress,
  redisOptions,
  redisUnavailable,
  redisWithin,
} from './redis-options.js';

describe('redisOptions', () => {
  it('gives producer connections a command timeout and no offline queue', () => {
    const options = redisOptions('producer', 'p');
    expect(options).toMatchObject({
      commandTimeout: PRODUCER_COMMAND_TIMEOUT_MS,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      skipVersionCheck: true,
      connectionName: 'p',
    });
    expect(redisOptions('producer', 'p', { commandTimeoutMs: 500 }).commandTimeout).toBe(500);
  });

  it('never limits a worker connection, whose blocking reads must not be cut short', () => {
    const options = redisOptions('worker', 'w', { commandTimeoutMs: 500 });
    expect(options).not.toHaveProperty('commandTimeout');
    expect(options).not.toHaveProperty('skipVersionCheck');
    expect(options).toMatchObject({ maxRetriesPerRequest: null, enableOfflineQueue: true });
  });

  it('backs off reconnections up to 5 s', () => {
    const { retryStrategy } = redisOptions('producer', 'p');
    expect(retryStrategy(1)).toBe(200);
    expect(retryStrategy(50)).toBe(5000);
  });
});

describe('redisAddress', () => {
  it('names host and port, never the credentials', () => {
    expect(redisAddress('redis://user:secret@redis.example:6380/2')).toBe('redis.example:6380');
    expect(redisAddress('rediss://:secret@cache.internal')).toBe('cache.internal:6379');
    expect(redisAddress('redis://[::1]:7000')).toBe('[::1]:7000');
    expect(redisAddress({ host: '10.0.0.5', port: 6390 })).toBe('10.0.0.5:6390');
    expect(redisAddress({ host: '::1', port: 6379 })).toBe('[::1]:6379');
    expect(redisAddress('::secret::')).toBe('(unparseable Redis URL)');
  });
});

describe('redisUnavailable', () => {
  const at = 'redis.example:6380';
  const failure = (error: unknown, timeoutMs?: number) => {
    const converted = redisUnavailable(at, error, timeoutMs);
    expect(converted.code).toBe('ERR_QUEUE_UNAVAILABLE');
    expect(converted.status).toBe(503);
    expect(converted.details.redis).toBe(at);
    expect(converted.message).toContain(at);
    return converted;
  };

  it.each([
    ['timeout', new Error('Command timed out'), /did not answer within 2000 ms; check/],
    [
      'disconnected',
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      /not connected to Redis at .* check that Redis is running and reachable/,
    ],
    ['disconnected', new Error('Connection is closed.'), /not connected/],
    [
      'disconnected',
      new Error(
        'Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest" option for details.',
      ),
      /not connected/,
    ],
    [
      'refused',
      Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6380'), { code: 'ECONNREFUSED' }),
      /refused the connection; check that it is running/,
    ],
    [
      'unknown-host',
      Object.assign(new Error('getaddrinfo ENOTFOUND redis.example'), { code: 'ENOTFOUND' }),
      /could not be resolved/,
    ],
    ['auth', new Error('NOAUTH Authentication required.'), /refused the credentials/],
    [
      'auth',
      new Error('WRONGPASS invalid username-password pair or user is disabled.'),
      /check the user name and password/,
    ],
    ['permission', new Error("NOPERM User x has no permissions to run the 'eval' command"), /eval/],
    [
      'out-of-memory',
      new Error("OOM command not allowed when used memory > 'maxmemory'."),
      /maxmemory/,
    ],
    ['read-only', new Error("READONLY You can't write against a read only replica."), /primary/],
    ['loading', new Error('LOADING Redis is loading the dataset in memory'), /loading/],
    ['failed', new Error('ERR something new\nwith a second line'), /failed: ERR something new$/],
  ])('turns a %s error into a sentence naming the Redis', (reason, error, text) => {
    const converted = failure(error);
    expect(converted.details.reason).toBe(reason);
    expect(converted.message).toMatch(text);
    expect(converted.message).not.toMatch(
      /enableOfflineQueue|Command timed out|maxRetriesPerRequest/,
    );
    expect(converted.cause).toBe(error);
  });

  it('says how long it waited', () => {
    expect(failure(new Error('Command timed out'), 750).message).toContain('within 750 ms');
    expect(failure(new RedisTimeoutError(3000)).message).toContain('within 3000 ms');
  });

  it('passes a ConveyorError through unchanged', () => {
    const own = new ConveyorError('ERR_MODEL_NOT_FOUND', 'no model');
    expect(redisUnavailable(at, own)).toBe(own);
  });
});

describe('redisWithin', () => {
  it('resolves with the work when it is in time', async () => {
    await expect(redisWithin(Promise.resolve(7), 100)).resolves.toBe(7);
  });

  it('rejects with RedisTimeoutError when the work is late', async () => {
    const never = new Promise<never>(() => undefined);
    const error = await redisWithin(never, 20).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedisTimeoutError);
    expect(isConveyorError(error)).toBe(false);
    expect((error as RedisTimeoutError).timeoutMs).toBe(20);
  });
});
