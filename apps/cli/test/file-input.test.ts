import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPixelsRepository, grayPng } from '../../../test/support/pixels-model.js';
import { jsonLines, runCli, tempDir } from './support.js';

describe('conveyor predict --file', () => {
  let repository: Awaited<ReturnType<typeof createPixelsRepository>>;
  const dir = tempDir();
  const page = join(dir, 'page.png');
  const other = join(dir, 'other.png');

  beforeAll(async () => {
    repository = await createPixelsRepository();
    await writeFile(page, await grayPng([0, 255, 17, 128]));
    await writeFile(other, await grayPng([1, 2, 3, 4]));
  });
  afterAll(() => repository?.remove());

  const predict = (...args: string[]) =>
    runCli(['predict', 'pixels', '--embedded', '--repository', repository.path, ...args]);

  it('reads a file into the bytes input it names', async () => {
    const run = await predict('--file', `image=${page}`);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const body = JSON.parse(run.stdout) as { outputs: { pixels: { data: unknown } } };
    expect(body.outputs.pixels.data).toEqual([
      [
        [
          [0, 255],
          [17, 128],
        ],
      ],
    ]);
  }, 60_000);

  it("reads files into the model's only bytes input without its name, one row each", async () => {
    const run = await predict('--file', page, '--file', other);
    expect(run.code).toBe(0);
    const body = JSON.parse(run.stdout) as { outputs: { pixels: { shape: number[] } } };
    expect(body.outputs.pixels.shape).toEqual([2, 1, 2, 2]);
  }, 60_000);

  it('refuses a missing file with ERR_FILE_UNREADABLE', async () => {
    const run = await predict('--file', `image=${join(dir, 'missing.png')}`, '--json');
    expect(run.code).not.toBe(0);
    expect(jsonLines(run.stderr)[0]).toMatchObject({ error: { code: 'ERR_FILE_UNREADABLE' } });
  }, 60_000);

  it('refuses a file for a model without a bytes input with ERR_VALIDATION', async () => {
    const run = await runCli(['predict', 'iris', '--embedded', '--file', page, '--json']);
    expect(run.code).toBe(2);
    expect(jsonLines(run.stderr)[0]).toMatchObject({ error: { code: 'ERR_VALIDATION' } });
  }, 60_000);

  it('conveyor batch reads base64 images for a bytes input from JSON lines', async () => {
    const images = [await grayPng([0, 255, 17, 128]), await grayPng([1, 2, 3, 4])];
    const input = join(dir, 'pages.jsonl');
    const lines = images.map((png) => JSON.stringify({ image: [png.toString('base64')] }));
    await writeFile(input, `${lines.join('\n')}\n`);
    const out = join(dir, 'pages-out.jsonl');
    const args = ['batch', 'pixels', input, '--out', out, '--embedded'];
    const run = await runCli([...args, '--repository', repository.path]);
    expect(
      run.code,
      await readFile(out.replace(/\.jsonl$/, '.failed.jsonl'), 'utf8').catch(() => ''),
    ).toBe(0);
    const records = jsonLines(await readFile(out, 'utf8')).map((r) => JSON.stringify(r));
    expect(records).toEqual([
      expect.stringContaining('[[[[0,255],[17,128]]]]'),
      expect.stringContaining('[[[[1,2],[3,4]]]]'),
    ]);
  }, 60_000);
});
