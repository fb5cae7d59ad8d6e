import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Engine, ServedModel } from '@conveyor/engine';
import { ModelNameSchema, ModelVersionSchema, type Config, type Logger } from '@conveyor/shared';
import type { Announcement, Announcer } from './announce.js';
import type { VersionConsumer } from './version-consumer.js';

/** The key of a model version in the worker's maps. */
export const keyOf = (model: string, version: string) => `${model}@${version}`;

/** What the catalogue says of a served version. */
export const announcementOf = (served: ServedModel): Announcement => ({
  signature: served.signature,
  state: served.state,
  stateReason: served.stateReason,
});

/**
 * Applies what a rescan of the repository found: a new version is loaded, warmed up, consumed and
 * announced; a served version whose files changed is loaded again and served in place (its queue's
 * consumer goes on); a removed one is marked draining (clients stop sending it jobs), keeps running
 * what is queued for it for MODEL_DRAIN_MS and until its queue is empty (within SHUTDOWN_TIMEOUT_MS
 * more), then is taken out of the catalogue and unloaded.
 */
export function createRollout(options: {
  engine: Engine;
  config: Config;
  log: Logger;
  announcer: Announcer;
  consumers: Map<string, VersionConsumer>;
  consume: (version: ServedModel) => Promise<void>;
}) {
  const { engine, config, log, announcer, consumers, consume } = options;
  const drains = new Set<Promise<void>>();
  const draining = new Set<string>();

  // A Redis error must not leave a removed version served for good: the drain goes on, and an
  // entry Redis missed stays `draining` (no new jobs) until it expires.
  const tell = (what: Promise<void>, model: string, version: string) =>
    what.catch((err: unknown) =>
      log.warn({ err, model, version }, 'could not update the catalogue; it catches up'),
    );

  const drain = async (version: ServedModel) => {
    const { name, version: v } = version.entry;
    await tell(announcer.set({ signature: version.signature, state: 'draining' }), name, v);
    log.info({ model: name, version: v, drainMs: config.MODEL_DRAIN_MS }, 'version draining');
    const consumer = consumers.get(keyOf(name, v));
    const started = Date.now();
    const limit = config.MODEL_DRAIN_MS + config.SHUTDOWN_TIMEOUT_MS;
    for (;;) {
      const elapsed = Date.now() - started;
      const backlog = (await consumer?.backlog().catch(() => 0)) ?? 0;
      if ((elapsed >= config.MODEL_DRAIN_MS && backlog === 0) || elapsed >= limit) {
        if (backlog > 0)
          log.warn({ model: name, version: v, backlog }, 'version unloaded with jobs queued');
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await consumer?.close();
    consumers.delete(keyOf(name, v));
    await tell(announcer.remove(name, v), name, v);
    await engine.unload(name, v);
    log.info({ model: name, version: v }, 'version unloaded');
  };

  /** Versions announced as loading by the rescan under way. */
  const loading = new Set<string>();

  /**
   * Version folders not served yet and not known to be broken: announced as `loading` while the
   * engine loads and warms them up (found by listing folders, which costs next to nothing).
   */
  const announceLoading = async () => {
    const broken = new Set(engine.problems.map((p) => keyOf(p.name, p.version ?? '')));
    for (const [model, version] of await versionFolders(config)) {
      const key = keyOf(model, version);
      if (consumers.has(key) || broken.has(key) || loading.has(key)) continue;
      loading.add(key);
      const signature = { name: model, version, inputs: [], outputs: [] };
      await announcer.set({ signature, state: 'loading' });
    }
  };

  return {
    async rescan() {
      await announceLoading();
      let change: Awaited<ReturnType<Engine['sync']>>;
      try {
        change = await engine.sync();
      } finally {
        // A version that loaded is announced ready below; one that failed is taken out.
        for (const key of loading) {
          const [model, version] = key.split('@') as [string, string];
          if (!consumers.has(key) && !served(engine, model, version))
            await announcer.remove(model, version);
        }
        loading.clear();
      }
      for (const version of change.added) {
        await consume(version);
        await announcer.set(announcementOf(version));
        log.info(
          { model: version.entry.name, version: version.entry.version, state: version.state },
          'version loaded',
        );
      }
      // Edited files, loaded again in place: the catalogue shows the new signature and state.
      for (const version of change.reloaded) {
        await tell(
          announcer.set(announcementOf(version)),
          version.entry.name,
          version.entry.version,
        );
        log.info(
          { model: version.entry.name, version: version.entry.version, state: version.state },
          'version reloaded',
        );
      }
      for (const version of change.removed) {
        const key = keyOf(version.entry.name, version.entry.version);
        if (!consumers.has(key) || draining.has(key)) continue;
        draining.add(key);
        const running = drain(version).catch((err: unknown) =>
          log.error({ err, model: version.entry.name }, 'drain failed'),
        );
        drains.add(running);
        void running.finally(() => {
          drains.delete(running);
          draining.delete(key);
        });
      }
    },
    async drained() {
      await Promise.all([...drains]);
    },
    /** Keys (`model@version`) of the versions being loaded by a rescan, and being drained, now. */
    phases: (): { loading: ReadonlySet<string>; draining: ReadonlySet<string> } => ({
      loading,
      draining,
    }),
  };
}

const served = (engine: Engine, model: string, version: string): boolean =>
  (engine.models.get(model) ?? []).some((v) => v.entry.version === version);

/** `[model, version]` of every version folder of the repository (MODELS filter applied). */
async function versionFolders(config: Config): Promise<[string, string][]> {
  const dirs = async (path: string) =>
    (await readdir(path, { withFileTypes: true }).catch(() => []))
      .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
      .map((d) => d.name);
  const found: [string, string][] = [];
  for (const model of await dirs(config.MODEL_REPOSITORY)) {
    if (!ModelNameSchema.safeParse(model).success) continue;
    if (config.MODELS.length > 0 && !config.MODELS.includes(model)) continue;
    for (const version of await dirs(join(config.MODEL_REPOSITORY, model)))
      if (ModelVersionSchema.safeParse(version).success) found.push([model, version]);
  }
  return found;
}
