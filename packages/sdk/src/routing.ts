import {
  ConveyorError,
  DEFAULT_ALIAS,
  ModelVersionSchema,
  pickVersion,
  targetVersions,
  type ModelAliases,
} from '@conveyor/shared';
import { aliasNotFound, type AliasStore } from './aliases.js';
import type { Catalogue } from './catalogue.js';

/** Chooses the version each job of a model runs on. */
export interface Router {
  /**
   * The version a request for `ref` (a version, an alias, or nothing for production) runs on,
   * chosen now by the alias's weights among the versions workers serve. Until production is set
   * it follows the newest announced version.
   */
  resolve(model: string, ref?: string): Promise<string>;
  /**
   * resolve's reads done once: a function that chooses a version for each job of a call, by the
   * alias's weights as they stood when read (each call draws anew).
   */
  picker(model: string, ref?: string): Promise<() => string>;
  /**
   * The shadow version of the alias a request for `ref` follows (nothing: production), or
   * undefined: a request pinned to a version is never shadowed.
   */
  shadow(model: string, ref?: string): Promise<string | undefined>;
  /**
   * shadow() from the cached aliases when they are fresh (no read, no promise); null when they
   * are not, and shadow() must read them.
   */
  shadowNow(model: string, ref?: string): string | undefined | null;
  /**
   * picker() from the cached aliases and catalogue when both are fresh, else undefined (no read,
   * no promise): the path every job takes. Throws as picker() rejects.
   */
  pickerNow(model: string, ref?: string): (() => string) | undefined;
}

export function createRouter(options: { catalogue: Catalogue; aliases: AliasStore }): Router {
  const { catalogue, aliases } = options;
  /** The draw of a version for `alias` of `model`, from its alias table and served versions. */
  function choose(
    model: string,
    alias: string,
    table: ModelAliases,
    versions: readonly { version: string }[],
  ): () => string {
    const target = table[alias];
    if (target === undefined) {
      if (alias !== DEFAULT_ALIAS) throw aliasNotFound(model, alias, table);
      const newest = (versions.at(-1) as { version: string }).version;
      return () => newest;
    }
    const served = new Set(versions.map((v) => v.version));
    // Whether any version can be chosen does not depend on the draw.
    if (pickVersion(target, served, 0) === undefined) {
      throw new ConveyorError(
        'ERR_MODEL_VERSION_NOT_FOUND',
        `alias "${alias}" of model "${model}" points at version ${targetVersions(target).join(', ')}, which no worker serves; served versions: ${[...served].join(', ')}`,
        { details: { model, alias } },
      );
    }
    return () => pickVersion(target, served) as string;
  }
  const isVersion = (ref: string | undefined): ref is string =>
    ref !== undefined && ModelVersionSchema.safeParse(ref).success;
  async function picker(model: string, ref?: string): Promise<() => string> {
    if (isVersion(ref)) return () => ref;
    const [table, versions] = await Promise.all([aliases.get(model), catalogue.versions(model)]);
    return choose(model, ref ?? DEFAULT_ALIAS, table, versions);
  }
  function pickerNow(model: string, ref?: string): (() => string) | undefined {
    if (isVersion(ref)) return () => ref;
    const table = aliases.getNow(model);
    const versions = table && catalogue.versionsNow(model);
    return versions && choose(model, ref ?? DEFAULT_ALIAS, table, versions);
  }
  return {
    async resolve(model, ref) {
      return (await picker(model, ref))();
    },
    picker,
    pickerNow,
    async shadow(model, ref) {
      if (isVersion(ref)) return undefined;
      return (await aliases.shadows(model))[ref ?? DEFAULT_ALIAS];
    },
    shadowNow(model, ref) {
      if (isVersion(ref)) return undefined;
      const shadows = aliases.shadowsNow(model);
      return shadows === undefined ? null : shadows[ref ?? DEFAULT_ALIAS];
    },
  };
}
