import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConveyorError, ModelNameSchema, type Config } from '@conveyor/shared';

/** The models of a repository: folders with a valid model name holding at least one folder. */
function repositoryModels(root: string): string[] {
  const dirs = (path: string) => {
    try {
      return readdirSync(path, { withFileTypes: true })
        .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
        .map((d) => d.name);
    } catch {
      return [];
    }
  };
  return dirs(root)
    .filter((name) => ModelNameSchema.safeParse(name).success && dirs(join(root, name)).length > 0)
    .sort();
}

/**
 * Refuses (ERR_MODEL_NOT_FOUND) a `--models` / MODELS list naming a model the repository
 * does not have, before anything starts: a worker would otherwise start, say it is ready, and
 * serve nothing of it.
 */
export function checkModelsExist(config: Config): void {
  if (config.MODELS.length === 0) return;
  const available = repositoryModels(config.MODEL_REPOSITORY);
  const unknown = config.MODELS.filter((m) => !available.includes(m));
  if (unknown.length === 0) return;
  const names = unknown.map((m) => `"${m}"`).join(', ');
  throw new ConveyorError(
    'ERR_MODEL_NOT_FOUND',
    `--models (MODELS) names ${unknown.length === 1 ? 'a model' : 'models'} the model repository ${config.MODEL_REPOSITORY} does not have: ${names}; ${
      available.length > 0
        ? `it has: ${available.join(', ')}`
        : 'it has no model (conveyor models init adds one; --repository or MODEL_REPOSITORY names another folder)'
    }`,
    { details: { unknown, available, repository: config.MODEL_REPOSITORY } },
  );
}
