import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODELS } from './workers.js';

/** A model repository of its own in a temporary folder, removed by `remove()`. */
export interface TempRepository {
  readonly root: string;
  /** Copies a shipped model's version 1 (its whole folder) in as `<name>/<version>`. */
  addVersion(model: string, version: string): Promise<void>;
  /** Deletes `<name>/<version>`, as an operator retiring a version does. */
  removeVersion(model: string, version: string): Promise<void>;
  remove(): Promise<void>;
}

/** Creates a repository holding `versions` of the shipped models, e.g. `{ iris: ['1', '2'] }`. */
export async function tempRepository(
  versions: Readonly<Record<string, readonly string[]>>,
): Promise<TempRepository> {
  const root = await mkdtemp(join(tmpdir(), 'conveyor-repo-'));
  const repository: TempRepository = {
    root,
    async addVersion(model, version) {
      // Copied beside, then renamed into place: a worker never sees half a version.
      const staging = join(root, `.${model}-${version}-staging`);
      await cp(join(MODELS, model, '1'), staging, { recursive: true });
      await cp(staging, join(root, model, version), { recursive: true });
      await rm(staging, { recursive: true, force: true });
    },
    async removeVersion(model, version) {
      await rm(join(root, model, version), { recursive: true, force: true });
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
  for (const [model, list] of Object.entries(versions))
    for (const version of list) await repository.addVersion(model, version);
  return repository;
}
