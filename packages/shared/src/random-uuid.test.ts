import { describe, expect, it } from 'vitest';
import { withRandomUuid } from './random-uuid.js';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('withRandomUuid', () => {
  it('appends a version 4 UUID to the prefix', () => {
    const id = withRandomUuid('iris.1.');
    expect(id.startsWith('iris.1.')).toBe(true);
    expect(id.slice('iris.1.'.length)).toMatch(V4);
    expect(withRandomUuid('')).toMatch(V4);
  });

  it('never repeats itself across many refills of its random bytes', () => {
    const ids = Array.from({ length: 5000 }, () => withRandomUuid('m.2.'));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id.slice(4)).toMatch(V4);
    // Every hex digit shows up in every free position over that many ids (the variant's position
    // takes 8 to b): no position is left fixed.
    const uuids = ids.map((id) => id.slice(4));
    for (let at = 0; at < 36; at++) {
      if ([8, 13, 18, 23].includes(at) || at === 14) continue;
      const seen = new Set(uuids.map((uuid) => uuid[at]));
      expect(seen.size, `position ${at}`).toBe(at === 19 ? 4 : 16);
    }
  });

  it('takes a prefix longer than its buffer the plain way', () => {
    const prefix = `${'a'.repeat(300)}.`;
    const id = withRandomUuid(prefix);
    expect(id.startsWith(prefix)).toBe(true);
    expect(id.slice(prefix.length)).toMatch(V4);
  });
});
