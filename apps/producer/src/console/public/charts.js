// @ts-check
/** @import { StatusHistory, VersionHistory } from '@conveyor/shared' */
/** @import { default as UPlot, Options, AlignedData } from 'uplot' */
import uPlot from './vendor/uPlot.esm.js';

const PALETTE = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#bf8700', '#1b7c83', '#e16f24'];
const HEIGHT = 200;

/**
 * @typedef {object} ChartSpec
 * @property {string} id the element the chart is drawn in
 * @property {(v: VersionHistory) => { label: string, values: (number | null)[] }[]} lines
 */

/** @type {ChartSpec[]} */
const SPECS = [
  {
    id: 'chart-throughput',
    lines: (v) => [{ label: `${v.model} v${v.version}`, values: v.completedPerSecond }],
  },
  {
    id: 'chart-latency',
    lines: (v) =>
      /** @type {const} */ (['p50', 'p95', 'p99']).map((p) => ({
        label: `${v.model} v${v.version} ${p}`,
        values: v[p],
      })),
  },
  { id: 'chart-depth', lines: (v) => [{ label: `${v.model} v${v.version}`, values: v.depth }] },
  {
    id: 'chart-backlog',
    lines: (v) => [{ label: `${v.model} v${v.version}`, values: v.backlogSeconds }],
  },
];

/** @type {Map<string, { chart: UPlot, labels: string }>} */
const drawn = new Map();

/**
 * @param {HTMLElement} element
 * @param {string[]} labels
 * @returns {Options}
 */
const optionsFor = (element, labels) => ({
  width: Math.max(320, element.clientWidth),
  height: HEIGHT,
  series: [
    {},
    ...labels.map((label, i) => ({
      label,
      stroke: PALETTE[i % PALETTE.length] ?? '#000',
      width: 2,
      spanGaps: false,
    })),
  ],
  axes: [{}, { size: 60 }],
  // From zero, with headroom; an empty or flat-zero chart still shows a 0-1 axis.
  scales: { y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
});

/**
 * Draws each chart of `history`, a new uPlot when the lines changed (a version came or went),
 * else new data in the same chart.
 * @param {StatusHistory} history
 * @returns {Map<string, UPlot>} the charts by element id
 */
export function drawCharts(history) {
  const xs = history.at.map((ms) => ms / 1000);
  for (const spec of SPECS) {
    const element = document.getElementById(spec.id);
    if (element === null) continue;
    const lines = history.versions.flatMap(spec.lines);
    const labels = lines.map((l) => l.label);
    /** @type {AlignedData} */
    const data = [xs, ...lines.map((l) => l.values)];
    const current = drawn.get(spec.id);
    if (current !== undefined && current.labels === labels.join('\n')) {
      current.chart.setData(data);
      continue;
    }
    current?.chart.destroy();
    const chart = new uPlot(optionsFor(element, labels), data, element);
    drawn.set(spec.id, { chart, labels: labels.join('\n') });
  }
  return new Map([...drawn].map(([id, { chart }]) => [id, chart]));
}

/** Fits the charts to their boxes after the window is resized. */
export function resizeCharts() {
  for (const [id, { chart }] of drawn) {
    const element = document.getElementById(id);
    if (element !== null)
      chart.setSize({ width: Math.max(320, element.clientWidth), height: HEIGHT });
  }
}
