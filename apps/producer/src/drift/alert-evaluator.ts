import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { RedisClient } from '@conveyor/shared';
import type { QueueClient } from '@conveyor/sdk';
import {
  AlertsSchema,
  DriftMetaSchema,
  alertStateKey,
  alertsKey,
  alertVersionsKey,
  driftMetaKey,
  driftVersionsKey,
  parseWindow,
  type Alerts,
  type Config,
  type Logger,
} from '@conveyor/shared';
import { assertCallbackAllowed, callbackPolicyOf } from '../webhooks/allow.js';
import { addEventDelivery } from '../webhooks/delivery.js';

/** What an alert metric read over a window: its value and the rows (or labels) it stands on. */
export interface AlertReading {
  value: number;
  rows: number;
  /** Extra fields of the event (PSI per feature for drift). */
  detail?: Record<string, unknown>;
}

/** Live accuracy of a version over a window (the prediction log's feedback); undefined: unknown. */
export type AccuracyReader = (
  model: string,
  version: string,
  windowMs: number,
) => Promise<AlertReading | undefined>;

/** The metrics an alert watches: its model.json threshold, the side it fires on, and its reader. */
interface AlertMetric {
  name: 'drift_psi' | 'accuracy';
  threshold: (alerts: Alerts) => number | undefined;
  crossed: (value: number, threshold: number) => boolean;
  read: (model: string, version: string, windowMs: number) => Promise<AlertReading | undefined>;
}

/** How long a crossing's state outlives the last check that saw it, in seconds: 7 days. */
const STATE_TTL_S = 7 * 24 * 3600;

export interface AlertEvaluatorOptions {
  /** For the lock and the crossing states. */
  redis: RedisClient;
  config: Config;
  client: Pick<QueueClient, 'models' | 'drift'>;
  /** The callbacks queue the producers' delivery workers send from. */
  queue: Queue;
  log: Logger;
  /** Reads live accuracy; without it, `accuracyBelow` is not checked. */
  accuracy?: AccuracyReader;
}

/** JSON text read from Redis, parsed; undefined when absent or not JSON (never trust Redis). */
function parseJson(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** One check of every model's alerts; resolves with the events queued. */
export type AlertCheck = () => Promise<number>;

/**
 * Checks the alerts (model.json `alerts`) of every version of an announced model whose workers
 * publish alerts or a baseline (its alerts ride along), whether or not it still takes traffic:
 * workers publish every version they load. Reads each metric over the alert's window and, when
 * it crossed its threshold, queues one signed event for the alert's webhook. A crossing is
 * recorded under a per-version, per-metric key set with NX, so that of several producers, and of
 * several checks while the metric stays past its threshold, one queues the event; the key goes
 * once the metric is back, and the next crossing fires again. A lock (SET NX PX) lets one
 * producer check per interval. Windows with fewer than `minRows` rows are not judged.
 */
export function createAlertCheck(options: AlertEvaluatorOptions): AlertCheck {
  const { redis, config, client, queue } = options;
  const log = options.log.child({ component: 'alerts' });
  const prefix = config.REDIS_KEY_PREFIX;
  const token = randomUUID();
  const metrics: AlertMetric[] = [
    {
      name: 'drift_psi',
      threshold: (alerts) => alerts.driftPsi,
      crossed: (value, threshold) => value > threshold,
      async read(model, version, windowMs) {
        const report = await client.drift(model, { version, windowMs });
        const drift = report.versions[0];
        if (!drift || drift.score === null) return undefined;
        const psi = Object.fromEntries(drift.features.map((f) => [f.name, f.psi]));
        return { value: drift.score, rows: drift.rows, detail: { psi } };
      },
    },
  ];
  const { accuracy } = options;
  if (accuracy)
    metrics.push({
      name: 'accuracy',
      threshold: (alerts) => alerts.accuracyBelow,
      crossed: (value, threshold) => value < threshold,
      read: accuracy,
    });

  const fire = async (
    model: string,
    version: string,
    alerts: Alerts,
    metric: AlertMetric,
    reading: AlertReading,
    threshold: number,
  ): Promise<boolean> => {
    const fields = { model, version, metric: metric.name, value: reading.value, threshold };
    try {
      await assertCallbackAllowed(alerts.webhook, callbackPolicyOf(config));
    } catch (err) {
      log.warn({ ...fields, err }, 'alert webhook not allowed');
      return false;
    }
    const state = alertStateKey(prefix, model, version, metric.name);
    const at = new Date();
    if ((await redis.set(state, at.toISOString(), 'EX', STATE_TTL_S, 'NX')) !== 'OK') {
      await redis.expire(state, STATE_TTL_S);
      return false;
    }
    const id = `alert-${model}-${version}-${metric.name}-${at.getTime()}`;
    const body = JSON.stringify({
      type: metric.name === 'drift_psi' ? 'model.drift' : 'model.accuracy',
      timestamp: at.toISOString(),
      data: {
        model,
        version,
        metric: metric.name,
        window: alerts.window,
        windowMs: parseWindow(alerts.window),
        value: reading.value,
        threshold,
        rows: reading.rows,
        ...reading.detail,
      },
    });
    await addEventDelivery(queue, config, { url: alerts.webhook, id, body });
    log.info({ ...fields, rows: reading.rows }, 'alert fired');
    return true;
  };

  const checkVersion = async (model: string, version: string, alerts: Alerts) => {
    const windowMs = parseWindow(alerts.window) ?? 3_600_000;
    let fired = 0;
    for (const metric of metrics) {
      const threshold = metric.threshold(alerts);
      if (threshold === undefined) continue;
      const reading = await metric.read(model, version, windowMs);
      if (!reading || reading.rows < alerts.minRows) continue;
      if (metric.crossed(reading.value, threshold)) {
        if (await fire(model, version, alerts, metric, reading, threshold)) fired++;
      } else if ((await redis.del(alertStateKey(prefix, model, version, metric.name))) > 0) {
        log.info({ model, version, metric: metric.name, value: reading.value }, 'alert recovered');
      }
    }
    return fired;
  };

  /** A version's published alerts: its own key, else those its published baseline carries. */
  const publishedAlerts = async (model: string, version: string) => {
    const own = parseJson(await redis.get(alertsKey(prefix, model, version)));
    const alerts = AlertsSchema.safeParse(own);
    if (alerts.success) return alerts.data;
    const meta = DriftMetaSchema.safeParse(
      parseJson(await redis.get(driftMetaKey(prefix, model, version))),
    );
    return meta.success ? meta.data.alerts : undefined;
  };

  const alertsOf = async (model: string): Promise<[string, Alerts][]> => {
    const versions = new Set([
      ...(await redis.smembers(alertVersionsKey(prefix, model))),
      ...(await redis.smembers(driftVersionsKey(prefix, model))),
    ]);
    const found: [string, Alerts][] = [];
    for (const version of versions) {
      const alerts = await publishedAlerts(model, version);
      if (alerts) found.push([version, alerts]);
    }
    return found;
  };

  return async () => {
    const lockMs = Math.max(config.DRIFT_ALERT_INTERVAL_MS - 100, 100);
    const lock = `${prefix}:alerts:lock`;
    if ((await redis.set(lock, token, 'PX', lockMs, 'NX')) !== 'OK') return 0;
    let fired = 0;
    const names = new Set((await client.models()).map((m) => m.name));
    for (const model of names) {
      const versions = await alertsOf(model).catch((err: unknown) => {
        log.warn({ err, model }, 'alert check failed');
        return [];
      });
      for (const [version, alerts] of versions) {
        try {
          fired += await checkVersion(model, version, alerts);
        } catch (err) {
          log.warn({ err, model, version }, 'alert check failed');
        }
      }
    }
    return fired;
  };
}
