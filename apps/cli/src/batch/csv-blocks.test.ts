import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ModelSignature } from '@conveyor/shared';
import { readWork, type WorkItem } from './input-reader.js';

const LABELS = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
const iris: ModelSignature = {
  name: 'iris',
  version: '1',
  inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 4], labels: LABELS }],
  outputs: [{ name: 'probabilities', dtype: 'float32', shape: [-1, 3] }],
};

const dir = mkdtempSync(join(tmpdir(), 'conveyor-csv-blocks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
function csv(text: string): string {
  const path = join(dir, `${(files += 1)}.csv`);
  writeFileSync(path, text);
  return path;
}

/** Each row read, by line: its values in label order, or its error's code and message. */
async function rowsOf(
  path: string,
  blocks: boolean,
  skip: (line: number) => boolean = () => false,
): Promise<{ rows: Map<number, unknown>; items: number }> {
  const rows = new Map<number, unknown>();
  let items = 0;
  for await (const item of readWork(path, 'csv', iris, { blocks, skip })) {
    if ('error' in item) {
      rows.set(item.line, { code: item.error.code, message: item.error.message });
      continue;
    }
    items += 1;
    ((work: WorkItem) =>
      work.lines.forEach((line, i) => {
        const inputs = work.row?.(i) ?? work.inputs;
        const features = inputs.features as { data: Float32Array } | undefined;
        const values = features
          ? Array.from(features.data)
          : LABELS.map((l) => Math.fround(inputs[l] as number));
        rows.set(line, values);
      }))(item);
  }
  return { rows, items };
}

async function expectSameRows(path: string, skip?: (line: number) => boolean) {
  const fast = await rowsOf(path, true, skip);
  const general = await rowsOf(path, false, skip);
  expect([...fast.rows].sort((a, b) => a[0] - b[0])).toEqual(
    [...general.rows].sort((a, b) => a[0] - b[0]),
  );
  return fast;
}

describe('readWork over a CSV of numbers in blocks', () => {
  it('reads many rows into a few blocks, in the order of the labels, as csv-parse reads them', async () => {
    const lines = ['petal_width, sepal_length,sepal_width,petal_length'];
    for (let i = 0; i < 1500; i++) lines.push(`${i / 10},5.1, 3.5 ,-1.25`);
    const { rows, items } = await expectSameRows(csv(`${lines.join('\n')}\n`));
    expect(rows.size).toBe(1500);
    expect(items).toBe(3);
    expect(rows.get(12)).toEqual([5.1, 3.5, -1.25, 1].map(Math.fround));
  });

  it('refuses the same rows with the same errors, and skips blank lines as csv-parse does', async () => {
    const path = csv(
      '\uFEFFsepal_length,sepal_width,petal_length,petal_width\n' +
        '1,2,3,4\n' +
        '\n' +
        '   \n' +
        'abc,2,3,4\n' +
        '1,2,3\n' +
        '1,2,3,4,5\n' +
        ',2,3,4\n' +
        '1e3,0x10,+.5,5.\n' +
        'Infinity,2,3,4\n' +
        '0.1234567890123456789,1,2,3',
    );
    const { rows } = await expectSameRows(path);
    expect(rows.get(5)).toMatchObject({ code: 'ERR_VALIDATION' });
    expect(rows.get(9)).toEqual([1000, 16, 0.5, 5]);
    expect(rows.size).toBe(8);
  });

  it('reads CRLF line ends as csv-parse does', async () => {
    const { rows } = await expectSameRows(
      csv('sepal_length,sepal_width,petal_length,petal_width\r\n1,2,3,4\r\n\r\nx,2,3,4\r\n5,6,7,8'),
    );
    expect([...rows.keys()].sort()).toEqual([2, 4, 5]);
  });

  it('hands the rest of the file to csv-parse from a line with a quote', async () => {
    const lines = ['sepal_length,sepal_width,petal_length,petal_width'];
    for (let i = 0; i < 700; i++) lines.push(i === 600 ? '"1.5","2\n",3,4' : `${i},1,2,3`);
    const { rows } = await expectSameRows(csv(`${lines.join('\n')}\n`));
    // csv-parse numbers a record by the line it ends on.
    expect(rows.get(603)).toEqual([1.5, 2, 3, 4]);
    expect(rows.get(604)).toEqual([601, 1, 2, 3]);
  });

  it('reads lines cut between reads, and finds a quote far into a large file', async () => {
    const lines = ['sepal_length,sepal_width,petal_length,petal_width'];
    for (let i = 0; i < 40_000; i++)
      lines.push(i === 30_000 ? '"7",8,9,10' : `${i}.${i % 7},${i % 13}.25,-${i % 5},0.${i}`);
    const { rows } = await expectSameRows(csv(lines.join('\n')));
    expect(rows.size).toBe(40_000);
    expect(rows.get(30_002)).toEqual([7, 8, 9, 10]);
    expect(rows.get(40_001)).toEqual([39_999.1, 11.25, -4, 0.39999].map(Math.fround));
  });

  it('leaves out the rows an earlier run did, quoted or not', async () => {
    const lines = ['sepal_length,sepal_width,petal_length,petal_width'];
    for (let i = 0; i < 100; i++) lines.push(i === 50 ? '"1",2,3,4' : `${i},1,2,3`);
    const skip = (line: number) => line % 3 === 0;
    const { rows } = await expectSameRows(csv(`${lines.join('\n')}\n`), skip);
    expect(rows.size).toBe(100 - 33);
    expect(rows.has(3)).toBe(false);
  });

  it('takes the general road, row by row, for a header that does not name the labels', async () => {
    const items = [];
    for await (const item of readWork(csv('a,b,c,d\n1,2,3,4\n'), 'csv', iris, {
      blocks: true,
      skip: () => false,
    }))
      items.push(item);
    expect(items).toEqual([{ lines: [2], inputs: { a: 1, b: 2, c: 3, d: 4 } }]);
  });
});
