import { describe, expect, it } from 'vitest';
import { parsePrefer } from './prefer.js';

describe('parsePrefer', () => {
  it.each([
    [undefined, { respondAsync: false }],
    ['respond-async', { respondAsync: true }],
    ['Respond-Async', { respondAsync: true }],
    ['wait=10', { respondAsync: false, waitS: 10 }],
    ['respond-async, wait=5', { respondAsync: true, waitS: 5 }],
    ['respond-async; foo=bar, wait="3"', { respondAsync: true, waitS: 3 }],
    ['wait=2, wait=9', { respondAsync: false, waitS: 2 }],
    ['wait=999999999', { respondAsync: false, waitS: 86_400 }],
  ])('reads %j', (header, expected) => {
    expect(parsePrefer(header)).toEqual(expected);
  });

  it.each(['wait', 'wait=soon', 'wait=-1', 'return=minimal', 'respond-async=yes', ''])(
    'ignores %j, as RFC 7240 asks of preferences it cannot use',
    (header) => {
      expect(parsePrefer(header)).toEqual({ respondAsync: false });
    },
  );

  it('reads a long header of unknown preferences to its end', () => {
    const unknown = Array.from({ length: 800 }, (_, i) => `x-${i}=1`).join(', ');
    expect(parsePrefer(`${unknown}, respond-async`)).toEqual({ respondAsync: true });
  });
});
