/** The label value used for a model name the catalogue does not know. */
export const OTHER_MODEL = 'other';

export interface ModelLabelsOptions {
  /** The model names of the catalogue, read from Redis (`client.models()`). */
  list: () => Promise<readonly string[]>;
  /** An unknown name reads the catalogue again at most this often, in ms. Default 1000. */
  minRefreshMs?: number;
  /** A known name refreshes the catalogue in the background past this age, in ms. Default 60000. */
  maxAgeMs?: number;
}

/**
 * The `model` label of a request: the name itself when the model catalogue has it, else `other`,
 * so that a client sending random names cannot grow the series without bound.
 */
export interface ModelLabels {
  /**
   * The label of `name` (`''` for none): synchronous when the name is known or the catalogue was
   * read within `minRefreshMs`; otherwise after one read of the catalogue (shared by concurrent
   * callers; a failed read keeps the names known so far).
   */
  label(name: string | undefined): string | Promise<string>;
  /** Reads the catalogue now; never rejects. */
  refresh(): Promise<void>;
}

export function createModelLabels(options: ModelLabelsOptions): ModelLabels {
  const minRefreshMs = options.minRefreshMs ?? 1000;
  const maxAgeMs = options.maxAgeMs ?? 60_000;
  let names: ReadonlySet<string> = new Set();
  let readAt = Number.NEGATIVE_INFINITY;
  let reading: Promise<void> | undefined;

  const refresh = (): Promise<void> =>
    (reading ??= options
      .list()
      .then(
        (list) => {
          names = new Set(list);
        },
        () => undefined,
      )
      .finally(() => {
        readAt = Date.now();
        reading = undefined;
      }));

  const known = (name: string) => (names.has(name) ? name : OTHER_MODEL);

  return {
    refresh,
    label(name) {
      if (name === undefined) return '';
      const age = Date.now() - readAt;
      if (names.has(name)) {
        if (age > maxAgeMs) void refresh();
        return name;
      }
      if (age < minRefreshMs) return OTHER_MODEL;
      return refresh().then(() => known(name));
    },
  };
}
