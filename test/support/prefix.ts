import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { catalogueKey } from '@conveyor/shared';

/** A key prefix of its own for a test file, so files never see each other's queues. */
export function uniquePrefix(): string {
  return `t${randomUUID().replaceAll('-', '').slice(0, 12)}`;
}

/** Deletes every key under a prefix. */
export async function dropPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * Copies model announcements (catalogue entries, all or those of the named `model@version`s) from
 * one prefix to another: clients on `to` then accept jobs for those models while no worker serves
 * them.
 */
export async function copyCatalogue(
  url: string,
  from: string,
  to: string,
  fields?: readonly string[],
): Promise<void> {
  const redis = new Redis(url);
  try {
    const entries = await redis.hgetall(catalogueKey(from));
    // Fields are `<model>@<version>@<worker>`: `iris@1` names every worker's entry of it.
    const named = (field: string, wanted: string) =>
      field === wanted || field.startsWith(`${wanted}@`);
    const copied = Object.entries(entries).filter(
      ([field]) => fields?.some((wanted) => named(field, wanted)) ?? true,
    );
    const missing = (fields ?? []).filter((w) => !copied.some(([field]) => named(field, w)));
    if (missing.length > 0) throw new Error(`not announced on ${from}: ${missing.join(', ')}`);
    if (copied.length > 0) await redis.hset(catalogueKey(to), Object.fromEntries(copied));
  } finally {
    redis.disconnect();
  }
}
