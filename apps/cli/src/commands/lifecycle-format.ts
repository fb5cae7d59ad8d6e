import type { ModelStatus } from '@conveyor/sdk';
import {
  DEFAULT_ALIAS,
  describeTarget,
  type AliasChange,
  type AliasTarget,
  type ModelSignature,
} from '@conveyor/shared';
import { describeSpec, table } from '../format.js';

/** How `conveyor models` prints what changes and shows where a model's traffic goes. */

const target = (value: AliasTarget | undefined, none: string) =>
  value === undefined ? none : describeTarget(value);

/** `production: 1 -> 2:10% 1:90%` */
export function changeLine(change: AliasChange): string {
  if (change.action === 'shadow')
    return `${change.alias} shadow: ${change.shadowFrom ?? '(none)'} -> ${change.shadowTo ?? '(removed)'}`;
  return `${change.alias}: ${target(change.from, '(none)')} -> ${target(change.to, '(deleted)')}`;
}

/** The ISO time of a change, to the second. */
const when = (at: number) => new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The alias history as a table, newest first. */
export function historyTable(history: readonly AliasChange[]): string {
  if (history.length === 0) return 'no alias changes yet';
  const rows = [['at', 'action', 'alias', 'from', 'to', 'by']];
  for (const c of history) {
    const shadow = (v: string | undefined) => (v === undefined ? '-' : `shadow ${v}`);
    rows.push(
      c.action === 'shadow'
        ? [when(c.at), c.action, c.alias, shadow(c.shadowFrom), shadow(c.shadowTo), c.by ?? '-']
        : [when(c.at), c.action, c.alias, target(c.from, '-'), target(c.to, '-'), c.by ?? '-'],
    );
  }
  return table(rows);
}

const specs = (list: ModelSignature['inputs']) =>
  list.map((s) => `${s.name} ${describeSpec(s)}`).join('; ');

function versionsTable(status: ModelStatus): string[] {
  if (status.versions.length === 0) return ['no worker announces a version'];
  const rows = [['version', 'state', 'workers', 'inputs', 'outputs']];
  for (const v of status.versions)
    rows.push([v.version, v.state, String(v.workers), specs(v.inputs), specs(v.outputs)]);
  const reasons = status.versions
    .filter((v) => v.stateReason !== undefined)
    .map((v) => `version ${v.version} is ${v.state}: ${v.stateReason}`);
  return [table(rows), ...reasons];
}

function aliasesTable(status: ModelStatus): string {
  const entries = Object.entries(status.aliases).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return 'aliases: none';
  // The shadow column appears once an alias has a shadow.
  if (Object.keys(status.shadows).length === 0)
    return table([['alias', 'target'], ...entries.map(([alias, t]) => [alias, describeTarget(t)])]);
  const rows = entries.map(([alias, t]) => [
    alias,
    describeTarget(t),
    status.shadows[alias] ?? '-',
  ]);
  return table([['alias', 'target', 'shadow'], ...rows]);
}

function unpinnedLine(status: ModelStatus): string {
  const production = status.aliases[DEFAULT_ALIAS];
  if (production) return `unpinned requests: ${DEFAULT_ALIAS} (${describeTarget(production)})`;
  if (status.following === undefined) return 'unpinned requests: no version is served';
  return `unpinned requests: the newest version, ${status.following} (${DEFAULT_ALIAS} is not set)`;
}

/** `conveyor models status`: versions, aliases, where unpinned requests go, recent changes. */
export function statusText(status: ModelStatus, history: readonly AliasChange[]): string {
  return [
    status.name,
    ...versionsTable(status),
    '',
    aliasesTable(status),
    '',
    unpinnedLine(status),
    `rule: ${status.rule}`,
    '',
    'recent changes:',
    historyTable(history),
  ].join('\n');
}

/** What `conveyor models publish` prints. */
export function publishedText(published: {
  name: string;
  version: string;
  path: string;
  signature: ModelSignature;
  pin: AliasChange | undefined;
  notified: number;
}): string {
  const { name, version, signature, pin } = published;
  const rows = [
    ...signature.inputs.map((s) => ['input', s.name, describeSpec(s)]),
    ...signature.outputs.map((s) => ['output', s.name, describeSpec(s)]),
  ];
  const lines = [`published ${name}@${version}: ${published.path}`];
  lines.push(
    ...table(rows)
      .split('\n')
      .map((l) => `  ${l}`),
  );
  if (pin?.to) {
    lines.push(
      `${DEFAULT_ALIAS} pinned to ${describeTarget(pin.to)}: ${name}@${version} takes no unpinned traffic until it is rolled out`,
      `next: conveyor models rollout ${name} ${version} --weight 10`,
    );
  }
  lines.push(`workers asked to rescan: ${published.notified}`);
  return lines.join('\n');
}
