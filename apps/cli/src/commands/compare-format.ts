import type { ComparisonReport, SideLatency } from '@conveyor/sdk';
import { table } from '../format.js';

/** How `conveyor models compare` and `conveyor replay` print comparison reports. */

/** A number to 4 significant digits, `-` for none. */
const num = (value: number | null): string =>
  value === null ? '-' : value === 0 ? '0' : String(Number(value.toPrecision(4)));

const ms = (value: number | null): string => (value === null ? '-' : `${num(value)} ms`);

const latencyRow = (side: string, l: SideLatency): string[] => [
  side,
  String(l.count),
  ms(l.p50Ms),
  ms(l.p95Ms),
  ms(l.meanQueuedMs),
];

/** One version pair: its counts, its outputs' agreement and differences, each side's latency. */
export function reportText(report: ComparisonReport): string {
  const dropped = Object.entries(report.droppedBy)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  const head = `${report.model} ${report.source} ${report.serving} -> ${report.candidate}: ${report.compared} compared, ${report.dropped} dropped${dropped ? ` (${dropped})` : ''}`;
  const outputs = table([
    ['output', 'agreement', 'max abs', 'max rel', 'mean abs', 'mismatched'],
    ...report.outputs.map((o) => [
      o.name,
      num(o.agreement),
      num(o.maxAbs),
      num(o.maxRel),
      num(o.meanAbs),
      String(o.mismatched),
    ]),
  ]);
  const latency = table([
    ['side', 'answers', 'p50', 'p95', 'mean queued'],
    latencyRow(`serving ${report.serving}`, report.latency.serving),
    latencyRow(`candidate ${report.candidate}`, report.latency.candidate),
  ]);
  return [head, indent(outputs), indent(latency)].join('\n');
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');

/** Every pair, blank-line separated; a sentence when there is none. */
export function reportsText(model: string, reports: readonly ComparisonReport[]): string {
  if (reports.length === 0)
    return `no comparisons for ${model} yet: give an alias a shadow (conveyor models shadow) or replay its log (conveyor replay)`;
  return reports.map(reportText).join('\n\n');
}
