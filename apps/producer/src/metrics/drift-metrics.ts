import { Gauge, type Registry } from 'prom-client';
import type { DriftReport } from '@conveyor/shared';

/** How long a scrape waits for the drift reads before it leaves their series out, in ms. */
const DRIFT_READ_BOUND_MS = 2000;

/**
 * `conveyor_drift_psi{model,version,feature}`: each feature's PSI over the default window (1 hour),
 * read at scrape time with `reports` (client.drift of every model). Features without values in the
 * window, and every series of a scrape whose read fails or takes longer than 2 s, are absent.
 */
export function registerDriftMetrics(
  registry: Registry,
  reports: (() => Promise<readonly DriftReport[]>) | undefined,
): void {
  const gauge: Gauge<'model' | 'version' | 'feature'> = new Gauge({
    name: 'conveyor_drift_psi',
    help: 'Population stability index of an input feature over the last hour against the version baseline (model.json baseline); above 0.2 is a large shift.',
    labelNames: ['model', 'version', 'feature'] as const,
    registers: [registry],
    async collect() {
      gauge.reset();
      if (!reports) return;
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), DRIFT_READ_BOUND_MS);
      });
      const read = await Promise.race([reports().catch(() => undefined), bound]);
      clearTimeout(timer);
      for (const report of read ?? []) {
        for (const version of report.versions) {
          for (const feature of version.features) {
            if (feature.psi === null) continue;
            gauge.set(
              { model: report.model, version: version.version, feature: feature.name },
              feature.psi,
            );
          }
        }
      }
    },
  });
}
