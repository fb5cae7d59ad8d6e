// @ts-check
/** @import { ConveyorStatus, StatusHistory } from '@conveyor/shared' */
/** @import UPlot from 'uplot' */
import { drawCharts, resizeCharts } from './charts.js';
import { listModels, wirePredictForm } from './predict.js';
import { drawTables } from './tables.js';

/** Bounds of the time between two reads, in ms, whatever the sampler's interval. */
const POLL_MS = { min: 1000, max: 10_000 };

const updated = /** @type {HTMLElement} */ (document.getElementById('updated'));
const problem = /** @type {HTMLElement} */ (document.getElementById('problem'));

/** @type {ConveyorStatus | undefined} */
let latest;

/**
 * Reads a JSON route of the producer; the browser sends the admin credentials it logged in with.
 * @param {string} path
 * @returns {Promise<unknown>}
 */
async function read(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  const body = /** @type {unknown} */ (await response.json());
  if (!response.ok) {
    const { code, error } = /** @type {{ code?: string, error?: string }} */ (body);
    throw new Error(`${path}: ${code ?? response.status} ${error ?? ''}`);
  }
  return body;
}

/**
 * What the page shows, for scripts and tests: the charts (uPlot instances by element id), the
 * status and history last drawn.
 * @type {{ charts: Map<string, UPlot>, status?: ConveyorStatus, history?: StatusHistory }}
 */
const view = { charts: new Map() };
Object.assign(window, { conveyorDashboard: view });

/** Reads the status and its history, draws them, and returns the sampler's interval. */
async function refresh() {
  const [rawStatus, rawHistory] = await Promise.all([
    read('/v1/status'),
    read('/v1/status/history'),
  ]);
  const status = /** @type {ConveyorStatus} */ (rawStatus);
  const history = /** @type {StatusHistory} */ (rawHistory);
  latest = status;
  drawTables(status, history);
  listModels(status);
  view.charts = drawCharts(history);
  view.status = status;
  view.history = history;
  updated.textContent = `Updated ${new Date(status.at).toLocaleTimeString()}`;
  problem.hidden = true;
  return history.sampleMs;
}

async function poll() {
  let next = POLL_MS.max;
  try {
    next = Math.min(POLL_MS.max, Math.max(POLL_MS.min, await refresh()));
  } catch (error) {
    problem.textContent = `Could not read the status: ${error instanceof Error ? error.message : String(error)}`;
    problem.hidden = false;
  }
  setTimeout(() => void poll(), next);
}

wirePredictForm(() => latest);
window.addEventListener('resize', resizeCharts);
void poll();
