import { Gauge, type Registry } from 'prom-client';
import type { ModelAccuracy, WindowAccuracy } from '@conveyor/shared';

/** How long a scrape waits for the accuracy reads before it leaves their series out, in ms. */
const ACCURACY_READ_BOUND_MS = 2000;

/** One read serves every gauge of a scrape: reads started this recently are shared, in ms. */
const ACCURACY_READ_SHARED_MS = 1000;

type Labels = 'model' | 'version' | 'window';

/**
 * Live accuracy and error per model version and window (`5m`, `1h`, `24h`), read at scrape time
 * with `reports` (client.accuracy of every model): `conveyor_model_accuracy`,
 * `conveyor_model_mae`, `conveyor_model_rmse` and `conveyor_model_feedback_rows`. Series without
 * feedback in their window, and every series of a scrape whose read fails or takes over 2 s, are
 * absent.
 */
export function registerAccuracyMetrics(
  registry: Registry,
  reports: (() => Promise<readonly ModelAccuracy[]>) | undefined,
): void {
  let shared: { at: number; read: Promise<readonly ModelAccuracy[] | undefined> } | undefined;
  const readBounded = () => {
    if (shared && Date.now() - shared.at < ACCURACY_READ_SHARED_MS) return shared.read;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ACCURACY_READ_BOUND_MS);
    });
    const read = Promise.race([
      (reports?.() ?? Promise.resolve([])).catch(() => undefined),
      bound,
    ]).finally(() => clearTimeout(timer));
    shared = { at: Date.now(), read };
    return read;
  };
  const gauge = (
    name: string,
    help: string,
    value: (w: WindowAccuracy) => number | null,
    extra: Record<string, string> = {},
  ) => {
    const labelNames: Labels[] = ['model', 'version', 'window'];
    const g: Gauge<string> = new Gauge({
      name,
      help,
      labelNames: [...labelNames, ...Object.keys(extra)],
      registers: [registry],
      async collect() {
        g.reset();
        if (!reports) return;
        for (const report of (await readBounded()) ?? [])
          for (const version of report.versions)
            for (const [window, stats] of Object.entries(version.windows)) {
              const v = value(stats);
              if (v === null) continue;
              g.set({ model: report.model, version: version.version, window, ...extra }, v);
            }
      },
    });
  };
  gauge(
    'conveyor_model_accuracy',
    'Share of labelled rows whose top class was the label, per model version and window (5m, 1h, 24h), from feedback.',
    (w) => w.accuracy,
  );
  gauge(
    'conveyor_model_mae',
    'Mean absolute error of a regression per model version and window (5m, 1h, 24h), from feedback.',
    (w) => w.mae,
  );
  gauge(
    'conveyor_model_rmse',
    'Root mean squared error of a regression per model version and window (5m, 1h, 24h), from feedback.',
    (w) => w.rmse,
  );
  const rows = new Gauge({
    name: 'conveyor_model_feedback_rows',
    help: 'Rows that received feedback per model version, window (5m, 1h, 24h) and kind (label or value).',
    labelNames: ['model', 'version', 'window', 'kind'] as const,
    registers: [registry],
    async collect() {
      rows.reset();
      if (!reports) return;
      for (const report of (await readBounded()) ?? [])
        for (const version of report.versions)
          for (const [window, stats] of Object.entries(version.windows)) {
            const labels = { model: report.model, version: version.version, window };
            if (stats.labelled > 0) rows.set({ ...labels, kind: 'label' }, stats.labelled);
            if (stats.valued > 0) rows.set({ ...labels, kind: 'value' }, stats.valued);
          }
    },
  });
}
