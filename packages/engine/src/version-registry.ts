import { ConveyorError, compareVersions, rejectionOf } from '@conveyor/shared';
import type { LoadedVersion } from './load-version.js';
import type { ServedModel } from './served-model.js';

/** The versions an engine serves, and the calls in flight on each. */
export interface VersionRegistry {
  /** Served versions by model name, oldest first; the same map object for the engine's life. */
  readonly models: ReadonlyMap<string, readonly ServedModel[]>;
  /** A served version; throws ERR_MODEL_NOT_FOUND or ERR_MODEL_VERSION_NOT_FOUND. */
  resolve(model: string, version?: string): ServedModel;
  has(model: string, version: string): boolean;
  add(loaded: LoadedVersion): void;
  /**
   * Serves `loaded` in place of the version of the same name and number, at once, and returns
   * the one it replaced (undefined when none was served); calls in flight on that one go on.
   */
  replace(loaded: LoadedVersion): LoadedVersion | undefined;
  /** Stops resolving a version and returns it; its calls in flight go on. */
  take(model: string, version: string): LoadedVersion | undefined;
  loaded(served: ServedModel): LoadedVersion;
  all(): LoadedVersion[];
  /** Runs `call` counted as in flight on `served`. */
  track<T>(served: ServedModel, call: () => Promise<T>): Promise<T>;
  /** Resolves once no call is in flight on `served`. */
  idle(served: ServedModel): Promise<void>;
}

export function createVersionRegistry(): VersionRegistry {
  const models = new Map<string, ServedModel[]>();
  const versions = new Map<ServedModel, LoadedVersion>();
  const inFlight = new Map<ServedModel, number>();
  const waiters = new Map<ServedModel, (() => void)[]>();

  const resolve = (model: string, version?: string): ServedModel => {
    const list = models.get(model);
    if (!list || list.length === 0) {
      throw new ConveyorError('ERR_MODEL_NOT_FOUND', `model "${model}" is not served here`, {
        details: { model },
      });
    }
    if (version === undefined) return list[list.length - 1] as ServedModel;
    const match = list.find((v) => v.entry.version === version);
    if (!match) {
      throw new ConveyorError(
        'ERR_MODEL_VERSION_NOT_FOUND',
        `model "${model}" has no version ${version}; served versions: ${list.map((v) => v.entry.version).join(', ')}`,
        { details: { model, version } },
      );
    }
    return match;
  };

  const settle = (served: ServedModel) => {
    const count = (inFlight.get(served) ?? 1) - 1;
    if (count > 0) return void inFlight.set(served, count);
    inFlight.delete(served);
    for (const wake of waiters.get(served) ?? []) wake();
    waiters.delete(served);
  };

  return {
    models,
    resolve,
    has: (model, version) => models.get(model)?.some((v) => v.entry.version === version) ?? false,
    add(loaded) {
      const { name } = loaded.served.entry;
      versions.set(loaded.served, loaded);
      // A new array each time: lists callers hold stay as they were.
      const list = [...(models.get(name) ?? []), loaded.served];
      models.set(
        name,
        list.sort((a, b) => compareVersions(a.entry.version, b.entry.version)),
      );
    },
    replace(loaded) {
      const { name, version } = loaded.served.entry;
      const list = models.get(name) ?? [];
      const at = list.findIndex((v) => v.entry.version === version);
      if (at < 0) return void this.add(loaded);
      const old = versions.get(list[at] as ServedModel);
      versions.delete(list[at] as ServedModel);
      versions.set(loaded.served, loaded);
      models.set(
        name,
        list.map((v, i) => (i === at ? loaded.served : v)),
      );
      return old;
    },
    take(model, version) {
      const list = models.get(model) ?? [];
      const served = list.find((v) => v.entry.version === version);
      if (!served) return undefined;
      const rest = list.filter((v) => v !== served);
      if (rest.length > 0) models.set(model, rest);
      else models.delete(model);
      const loaded = versions.get(served);
      versions.delete(served);
      return loaded;
    },
    loaded(served) {
      const loaded = versions.get(served);
      if (!loaded) throw new ConveyorError('ERR_INTERNAL', 'a served version has no runtime');
      return loaded;
    },
    all: () => [...versions.values()],
    // One reaction on the call's promise, not an async function's frame and promises: every job
    // of every version goes through here.
    track<T>(served: ServedModel, call: () => Promise<T>): Promise<T> {
      inFlight.set(served, (inFlight.get(served) ?? 0) + 1);
      let running: Promise<T>;
      try {
        running = call();
      } catch (err) {
        settle(served);
        return rejectionOf(err);
      }
      return running.then(
        (value) => {
          settle(served);
          return value;
        },
        (err: unknown) => {
          settle(served);
          throw err;
        },
      );
    },
    idle(served) {
      if (!inFlight.has(served)) return Promise.resolve();
      return new Promise((wake) => waiters.set(served, [...(waiters.get(served) ?? []), wake]));
    },
  };
}
