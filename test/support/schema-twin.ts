import { expect } from 'vitest';

/** What the helper needs of a zod schema. */
interface Parses {
  safeParse(value: unknown): { success: boolean; data?: unknown };
}

/**
 * Whether a hand-written twin of a zod check (a fast path beside its schema) passes `value`; when
 * it does, asserts that the schema takes the value too, unchanged, since callers then use it as it
 * came instead of the schema's copy. For properties over values near the schema's edges.
 */
export function passesUnchanged(
  check: (value: unknown) => boolean,
  schema: Parses,
  value: unknown,
): boolean {
  if (!check(value)) return false;
  const parsed = schema.safeParse(value);
  expect(parsed.success, JSON.stringify(value)).toBe(true);
  expect(parsed.data).toEqual(value);
  return true;
}
