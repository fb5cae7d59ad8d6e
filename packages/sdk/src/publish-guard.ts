import {
  DEFAULT_ALIAS,
  compareVersions,
  isConveyorError,
  type AliasChange,
} from '@conveyor/shared';
import type { ModelAdmin, ModelStatus } from './model-admin.js';

/** The model's status, or undefined for a model with no announced version and no alias. */
export async function findModelStatus(
  admin: ModelAdmin,
  model: string,
): Promise<ModelStatus | undefined> {
  try {
    return await admin.status(model);
  } catch (error) {
    if (isConveyorError(error) && error.code === 'ERR_MODEL_NOT_FOUND') return undefined;
    throw error;
  }
}

/**
 * Keeps a version about to be published from taking unpinned traffic. When the model's
 * `production` alias is not set, unpinned requests follow the newest version, so publishing a
 * newer one would move them at once; this pins production first, to the version they follow now
 * (else the newest of `onDisk`). Resolves with that change, or undefined when production is set
 * already, the model has no version yet, or `version` is not newer than every one it has.
 *
 * @param onDisk the versions in the model repository before this one
 * @param by who publishes, for the alias history (an API key's name, `cli@host`)
 */
export async function pinProductionBeforePublish(
  admin: ModelAdmin,
  model: string,
  version: string,
  onDisk: readonly string[],
  by?: string,
): Promise<AliasChange | undefined> {
  const status = await findModelStatus(admin, model);
  if (status?.aliases[DEFAULT_ALIAS] !== undefined) return undefined;
  const known = [...onDisk, ...(status?.versions.map((v) => v.version) ?? [])].sort(
    compareVersions,
  );
  const newest = known.at(-1);
  if (newest === undefined || compareVersions(version, newest) <= 0) return undefined;
  const current = status?.following ?? [...onDisk].sort(compareVersions).at(-1) ?? newest;
  return admin.setAlias(
    model,
    DEFAULT_ALIAS,
    { [current]: 100 },
    {
      action: 'set',
      ...(by !== undefined && { by }),
    },
  );
}
