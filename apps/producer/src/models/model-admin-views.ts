import type { FastifyRequest } from 'fastify';
import type { ModelStatus } from '@conveyor/sdk';
import {
  describeTarget,
  type AliasChange,
  type AliasTarget,
  type TensorSpec,
} from '@conveyor/shared';
import { DTYPE_TO_OIP } from '../oip/schemas.js';
import type { AliasChangeBody, AliasView, ModelStatusBody } from './model-admin-schemas.js';

/** Who made a change, for the alias history: the API key's name (`anonymous` when auth is off). */
export const changedBy = (request: FastifyRequest): string =>
  request.principal?.name ?? 'anonymous';

/** A target with its weights, its percentages and its description. */
export function aliasView(target: AliasTarget): AliasView {
  const total = Object.values(target).reduce((sum, w) => sum + w, 0);
  const percent: Record<string, number> = {};
  for (const [version, weight] of Object.entries(target))
    percent[version] = Math.round((weight / total) * 1000) / 10;
  return { versions: { ...target }, percent, description: describeTarget(target) };
}

export function changeBody(change: AliasChange): AliasChangeBody {
  return {
    at: new Date(change.at).toISOString(),
    alias: change.alias,
    action: change.action,
    ...(change.from && { from: { ...change.from } }),
    ...(change.to && { to: { ...change.to } }),
    ...(change.shadowFrom !== undefined && { shadowFrom: change.shadowFrom }),
    ...(change.shadowTo !== undefined && { shadowTo: change.shadowTo }),
    ...(change.by !== undefined && { by: change.by }),
  };
}

export const tensorsOf = (specs: readonly TensorSpec[]) =>
  specs.map((spec) => ({
    name: spec.name,
    datatype: DTYPE_TO_OIP[spec.dtype],
    shape: [...spec.shape],
  }));

/** Where unpinned requests go: production's target, else the version they follow. */
function unpinnedOf(status: ModelStatus): AliasView | null {
  const production = status.aliases.production;
  if (production) return aliasView(production);
  return status.following === undefined ? null : aliasView({ [status.following]: 100 });
}

export function statusBody(status: ModelStatus, history: readonly AliasChange[]): ModelStatusBody {
  return {
    name: status.name,
    versions: status.versions.map((v) => ({
      version: v.version,
      state: v.state,
      ...(v.stateReason !== undefined && { state_reason: v.stateReason }),
      workers: v.workers,
      inputs: tensorsOf(v.inputs),
      outputs: tensorsOf(v.outputs),
    })),
    aliases: Object.fromEntries(
      Object.entries(status.aliases).map(([alias, target]) => [alias, aliasView(target)]),
    ),
    unpinned: unpinnedOf(status),
    following: status.following ?? null,
    rule: status.rule,
    history: history.map(changeBody),
    shadows: { ...status.shadows },
    comparisons: status.comparisons,
  };
}
