import { createHash, randomBytes } from 'node:crypto';
import {
  ConveyorError,
  idempotencyDigest,
  idempotencyRecordKey,
  idempotencySecretKey,
  type ParsedPredictOptions,
  type RedisClient,
} from '@conveyor/shared';

/**
 * A request's fingerprint (the IETF idempotency-key draft's): what must be the same for a repeat
 * of a key to be the same request. The model, the version or alias asked for, the inputs as given,
 * the outputs and the priority; not how long the caller waits nor its deadline, which a retry
 * computes anew.
 */
export function requestFingerprint(
  model: string,
  inputs: unknown,
  options: Pick<ParsedPredictOptions, 'version' | 'outputs' | 'priority'>,
): string {
  const hash = createHash('sha256');
  hash.update(
    canonical({
      model,
      version: options.version ?? null,
      outputs: options.outputs ?? null,
      priority: options.priority ?? null,
    }),
  );
  hash.update('\n');
  hash.update(canonical(inputs));
  return hash.digest('hex');
}

/** A stable text for a value: object keys sorted, typed arrays and Buffers by their type and bytes. */
function canonical(value: unknown): string {
  if (ArrayBuffer.isView(value)) {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return `${value.constructor.name}(${bytes.toString('base64')})`;
  }
  if (value instanceof Date) return `Date(${value.getTime()})`;
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  if (typeof value === 'bigint') return `${value}n`;
  return JSON.stringify(value) ?? 'undefined';
}

/** What a key's record says about a request: the first of its key, a repeat, or a different one. */
export interface Claim {
  status: 'new' | 'same' | 'mismatch';
  /** The version the key's job runs on: the one its first request was given. */
  version: string;
  /** Milliseconds since the key was first seen. */
  ageMs: number;
}

/**
 * Reads or creates a key's record `{v, fp, at}` in one step. A record made by `reserve` (no
 * fingerprint yet: a webhook fixing a job id before the enqueue) takes the first fingerprint
 * claimed on it. `at` is the Redis server's clock, which every client shares.
 */
const CLAIM = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], cjson.encode({v = ARGV[1], fp = ARGV[2], at = ms}), 'EX', ARGV[3])
  return {'new', ARGV[1], '0'}
end
local record = cjson.decode(current)
local age = tostring(ms - tonumber(record.at))
if ARGV[2] == '' then return {'same', record.v, age} end
if record.fp == '' then
  record.fp = ARGV[2]
  redis.call('SET', KEYS[1], cjson.encode(record), 'KEEPTTL')
  return {'new', record.v, age}
end
if record.fp ~= ARGV[2] then return {'mismatch', record.v, age} end
return {'same', record.v, age}
`;

export interface Idempotency {
  /** The digest of an owner's key (see idempotencyDigest): its job ids end with it. */
  digest(owner: string | undefined, key: string): Promise<string>;
  /** Claims the key for a request of `fingerprint` that would run on `version`. */
  claim(digest: string, version: string, fingerprint: string): Promise<Claim>;
  /** Fixes the key's version without a request yet: the version its job will run on. */
  reserve(digest: string, version: string): Promise<string>;
}

/**
 * Idempotency keys over Redis: each owner's keys are its own, records live as long as finished
 * jobs are kept (`ttlSeconds`), and a job id cannot be derived from a key without the secret.
 */
export function createIdempotency(
  redis: RedisClient,
  prefix: string,
  ttlSeconds: number,
): Idempotency {
  let secret: Promise<string> | undefined;
  const loadSecret = async (): Promise<string> => {
    const key = idempotencySecretKey(prefix);
    const fresh = randomBytes(32).toString('base64url');
    const before = await redis.set(key, fresh, 'NX', 'GET');
    return before ?? fresh;
  };
  const claim = async (digest: string, version: string, fingerprint: string): Promise<Claim> => {
    const reply = (await redis.eval(
      CLAIM,
      1,
      idempotencyRecordKey(prefix, digest),
      version,
      fingerprint,
      String(ttlSeconds),
    )) as [Claim['status'], string, string];
    return { status: reply[0], version: reply[1], ageMs: Number(reply[2]) };
  };
  return {
    async digest(owner, key) {
      secret ??= loadSecret().catch((error: unknown) => {
        secret = undefined;
        throw error;
      });
      return idempotencyDigest(await secret, owner ?? '', key);
    },
    claim,
    reserve: async (digest, version) => (await claim(digest, version, '')).version,
  };
}

/** The same key was used for a different request. */
export function keyReused(key: string, model: string): ConveyorError {
  return new ConveyorError(
    'ERR_IDEMPOTENCY_KEY_REUSED',
    `idempotency key "${key}" was used before for a different request; use a new key for a new request`,
    { details: { idempotencyKey: key, model } },
  );
}

/** The first request of the key has not finished being accepted. */
export function keyInProgress(key: string, model: string): ConveyorError {
  return new ConveyorError(
    'ERR_IDEMPOTENCY_IN_PROGRESS',
    `a request with idempotency key "${key}" is still being accepted; retry in a second with the same key`,
    { details: { idempotencyKey: key, model, retryAfterS: 1 } },
  );
}
