// @ts-check
/** @import { ConveyorStatus, StatusHistory } from '@conveyor/shared' */

/**
 * A table cell; numbers are right-aligned, null and undefined show as a dash.
 * @param {string | number | boolean | null | undefined} value
 * @param {string} [className]
 */
function cell(value, className) {
  const td = document.createElement('td');
  if (value === null || value === undefined) {
    td.textContent = '–';
    td.className = 'empty';
  } else if (typeof value === 'number') {
    td.textContent = Number.isInteger(value) ? String(value) : value.toFixed(2);
    td.className = 'num';
  } else td.textContent = String(value);
  if (className !== undefined) td.classList.add(className);
  return td;
}

/**
 * Replaces the rows of table `id`; a table without rows says so.
 * @param {string} id
 * @param {HTMLTableCellElement[][]} rows
 * @param {string} empty what an empty table says
 */
function fill(id, rows, empty) {
  const body = document.querySelector(`#${id} tbody`);
  if (body === null) return;
  const trs = rows.map((cells) => {
    const tr = document.createElement('tr');
    tr.append(...cells);
    return tr;
  });
  if (trs.length === 0) {
    const tr = document.createElement('tr');
    const td = cell(empty);
    td.colSpan = document.querySelectorAll(`#${id} thead th`).length;
    td.className = 'empty';
    tr.append(td);
    trs.push(tr);
  }
  body.replaceChildren(...trs);
}

/** @param {ConveyorStatus} status */
function models(status) {
  const rows = status.models.flatMap((m) => {
    const aliases = Object.entries(m.aliases)
      .map(([alias, target]) => `${alias} → ${JSON.stringify(target)}`)
      .join(', ');
    return m.versions.map((v) => [
      cell(m.name),
      cell(v.version),
      cell(v.state),
      cell(v.ready ? 'ready' : 'not ready', v.ready ? 'ready' : 'not-ready'),
      cell(v.workers),
      cell(aliases === '' ? null : aliases),
    ]);
  });
  fill('models', rows, 'No model announced.');
}

/** @param {ConveyorStatus} status */
function queues(status) {
  const rows = status.queues.map((q) => [
    cell(q.model),
    cell(q.version),
    cell(q.counts.waiting),
    cell(q.counts.prioritized),
    cell(q.counts.delayed),
    cell(q.counts.active),
    cell(q.counts.failed),
    cell(q.oldestWaitingSeconds),
    cell(q.workers),
    cell(q.backlogSeconds),
  ]);
  fill('queues', rows, 'No queue.');
}

/** @param {ConveyorStatus} status */
function workers(status) {
  const rows = status.workers.map((w) => {
    const sum = (/** @type {'jobsActive' | 'completed' | 'failed'} */ key) =>
      w.versions.reduce((n, v) => n + v[key], 0);
    return [
      cell(w.id),
      cell(w.host),
      cell(w.pid),
      cell(w.state),
      cell(w.versions.map((v) => `${v.model} v${v.version} (${v.state})`).join(', ')),
      cell(sum('jobsActive')),
      cell(sum('completed')),
      cell(sum('failed')),
      cell(Math.max(0, (status.at - w.beatAt) / 1000)),
    ];
  });
  fill('workers', rows, 'No live worker.');
}

/**
 * @param {ConveyorStatus} status
 * @param {StatusHistory} history
 */
function failures(status, history) {
  /** @type {Map<string, { model: string, version: string, code: string, window: number, total: number }>} */
  const byKey = new Map();
  const keyOf = (/** @type {{ model: string, version: string, code: string }} */ f) =>
    `${f.model} ${f.version} ${f.code}`;
  for (const f of status.failures)
    byKey.set(keyOf(f), {
      model: f.model,
      version: f.version,
      code: f.code,
      window: 0,
      total: f.count,
    });
  for (const f of history.failures) {
    const known = byKey.get(keyOf(f));
    if (known !== undefined) known.window = f.count;
    else
      byKey.set(keyOf(f), {
        model: f.model,
        version: f.version,
        code: f.code,
        window: f.count,
        total: 0,
      });
  }
  const rows = [...byKey.values()]
    .sort((a, b) => b.window - a.window || b.total - a.total)
    .map((f) => [cell(f.model), cell(f.version), cell(f.code), cell(f.window), cell(f.total)]);
  fill('failures', rows, 'No failure.');
}

/**
 * Shows the status and the failures of the history in the page's tables.
 * @param {ConveyorStatus} status
 * @param {StatusHistory} history
 */
export function drawTables(status, history) {
  models(status);
  queues(status);
  workers(status);
  failures(status, history);
}
