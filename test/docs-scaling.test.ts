/**
 * docs/scaling.md quotes the bench: each measured figure carries a marker
 * `<!-- bench:path.in.benchmarks.json -->` and each figure worked out from them a marker
 * `<!-- calc:name -->`. Both must agree with docs/benchmarks.json at the precision shown: a new
 * `pnpm bench --save` rewrites the page (scripts/bench/scaling-figures.ts), and a figure edited by
 * hand fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  benchValue,
  markedFigures,
  rewriteScalingPage,
  scalingCalculations,
  type Shown,
} from '../scripts/bench/scaling-figures.js';
import { ROOT } from '../scripts/lib/worker-process.js';

const page = readFileSync(join(ROOT, 'docs/scaling.md'), 'utf8');
const bench = JSON.parse(readFileSync(join(ROOT, 'docs/benchmarks.json'), 'utf8')) as Record<
  string,
  unknown
>;

const marked = (kind: 'bench' | 'calc') => markedFigures(page, kind);

/** A bench figure, from the saved results. */
function figure(path: string): number {
  const value = benchValue(bench, path);
  if (value === undefined) throw new Error(`docs/benchmarks.json has no ${path}`);
  return value;
}

const calculations = () => scalingCalculations(figure);

const atPrecision = (value: number, { decimals }: Shown) => Number(value.toFixed(decimals));

describe('docs/scaling.md', () => {
  it('marks its figures', () => {
    expect(marked('bench').length).toBeGreaterThan(20);
    expect(marked('calc').length).toBeGreaterThan(15);
  });

  it('quotes every bench figure as docs/benchmarks.json has it', () => {
    const wrong = marked('bench').filter(([path, s]) => atPrecision(figure(path), s) !== s.value);
    expect(wrong.map(([path, s]) => `${path}: ${s.text} vs ${figure(path)}`)).toEqual([]);
  });

  it('works out every calculated figure from those bench figures', () => {
    const calc = calculations();
    const wrong = marked('calc').filter(([name, s]) => {
      const value = calc[name];
      return value === undefined || atPrecision(value, s) !== s.value;
    });
    expect(wrong.map(([name, s]) => `${name}: ${s.text} vs ${calc[name]}`)).toEqual([]);
    const used = new Set(marked('calc').map(([name]) => name));
    expect(Object.keys(calc).filter((name) => !used.has(name))).toEqual([]);
  });

  it('catches a figure that drifts from the results', () => {
    const path = 'endToEnd.text-direction.jobsPerSecond';
    const s = marked('bench').find(([p]) => p === path)?.[1];
    expect(s && atPrecision(figure(path) + 1, s)).not.toBe(s?.value);
  });

  it('is what rewriting it from the saved results gives', () => {
    expect(rewriteScalingPage(page, bench)).toBe(page);
  });

  it('leaves a heading for the Redis Cluster section it links to', () => {
    expect(page).toMatch(/^## Redis Cluster$/m);
    expect(page).toContain('(#redis-cluster)');
  });
});
