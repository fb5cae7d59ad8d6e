import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DOC_JSON, DOC_MD, renderBenchmarksMd } from '../scripts/bench/report-md.js';
import type { BenchResults } from '../scripts/bench/results.js';

describe('docs/benchmarks.md', () => {
  it('is what the generator makes from docs/benchmarks.json (run pnpm bench:docs)', async () => {
    const results = JSON.parse(await readFile(DOC_JSON, 'utf8')) as BenchResults;
    expect(await readFile(DOC_MD, 'utf8')).toBe(await renderBenchmarksMd(results));
  });

  it('says "not measured" for a scenario the results lack', async () => {
    const page = await renderBenchmarksMd({});
    expect(page).toContain('Not measured in this run');
    expect(page).toMatch(/\| not measured \|/);
  });
});
