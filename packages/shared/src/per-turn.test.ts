import { describe, expect, it } from 'vitest';
import { perTurn } from './per-turn.js';

describe('perTurn', () => {
  it('sends a turn’s requests together, per hash tag, up to maxWeight, each its own answer', async () => {
    const sent: string[][] = [];
    const read = perTurn<string, string>({
      keyOf: (key) => key,
      maxWeight: 4,
      send: (keys) => {
        sent.push(keys);
        return Promise.resolve(keys.map((key) => key.toUpperCase()));
      },
    });
    const a = Array.from({ length: 6 }, (_, i) => `p:{a}:${i}`);
    const b = ['p:{b}:1', 'p:{b}:2'];
    const answers = await Promise.all([...a, ...b].map(read));
    expect(answers).toEqual([...a, ...b].map((key) => key.toUpperCase()));
    expect(sent).toEqual([a.slice(0, 4), a.slice(4), b]);
    // A request of a later turn is sent on its own.
    await read('p:{a}:late');
    expect(sent.at(-1)).toEqual(['p:{a}:late']);
  });

  it('weighs requests: a heavy one starts a group of its own', async () => {
    const sent: number[][] = [];
    const read = perTurn<number[], number>({
      keyOf: () => 'k',
      weightOf: (keys) => keys.length,
      maxWeight: 3,
      send: (requests) => {
        sent.push(requests.map((keys) => keys.length));
        return Promise.resolve(requests.map((keys) => keys.length));
      },
    });
    expect(await Promise.all([[1], [1, 2], [1, 2, 3], [1]].map(read))).toEqual([1, 2, 3, 1]);
    expect(sent).toEqual([[1, 2], [3], [1]]);
  });

  it('fails only the requests of a group whose send failed', async () => {
    const read = perTurn<string, number>({
      keyOf: (key) => key,
      send: (keys) =>
        keys.some((key) => key.includes('{bad}'))
          ? Promise.reject(new Error('CROSSSLOT'))
          : Promise.resolve(keys.map(() => 1)),
    });
    const results = await Promise.allSettled([read('p:{ok}:1'), read('p:{bad}:1')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
  });
});
