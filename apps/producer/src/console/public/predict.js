// @ts-check
/** @import { ConveyorStatus } from '@conveyor/shared' */
/** @import { ModelMetadata, InferResponse } from '../../oip/schemas.js' */

/** @param {string} id */
const element = (id) => {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found;
};

const form = /** @type {HTMLFormElement} */ (element('predict'));
const modelSelect = /** @type {HTMLSelectElement} */ (element('predict-model'));
const versionSelect = /** @type {HTMLSelectElement} */ (element('predict-version'));
const body = /** @type {HTMLTextAreaElement} */ (element('predict-body'));
const result = element('predict-result');

/** The model route of the form's model and version (the newest version when none is chosen). */
const modelPath = () => {
  const name = encodeURIComponent(modelSelect.value);
  const version = versionSelect.value;
  return version === ''
    ? `/v2/models/${name}`
    : `/v2/models/${name}/versions/${encodeURIComponent(version)}`;
};

/**
 * @param {'ok' | 'error'} outcome
 * @param {string} text
 * @param {string} [code] the error code, also in `data-code` for scripts
 */
const show = (outcome, text, code) => {
  result.dataset.outcome = outcome;
  if (code === undefined) delete result.dataset.code;
  else result.dataset.code = code;
  result.textContent = text;
};

/**
 * A request of zeros (empty strings for BYTES) in the shape the model declares, one row where a
 * dimension is variable.
 * @param {ModelMetadata} metadata
 */
function zerosFor(metadata) {
  const inputs = metadata.inputs.map((input) => {
    const shape = input.shape.map((d) => (d < 0 ? 1 : d));
    const size = shape.reduce((n, d) => n * d, 1);
    const zero = input.datatype === 'BYTES' ? '' : input.datatype === 'BOOL' ? false : 0;
    return { name: input.name, shape, datatype: input.datatype, data: Array(size).fill(zero) };
  });
  return JSON.stringify({ inputs }, null, 2);
}

/** @param {Response} response */
async function errorOf(response) {
  try {
    /** @type {unknown} */
    const raw = await response.json();
    const error = /** @type {{ code?: string, error?: string }} */ (raw);
    return { code: error.code ?? `HTTP ${response.status}`, message: error.error ?? '' };
  } catch {
    return { code: `HTTP ${response.status}`, message: response.statusText };
  }
}

/** Fills the request box with zeros shaped as the chosen model's inputs. */
async function prefill() {
  if (modelSelect.value === '') return;
  const response = await fetch(modelPath(), { headers: { accept: 'application/json' } });
  if (!response.ok) {
    const { code, message } = await errorOf(response);
    show('error', `${code}: ${message}`, code);
    return;
  }
  /** @type {unknown} */
  const metadata = await response.json();
  body.value = zerosFor(/** @type {ModelMetadata} */ (metadata));
  show('ok', '');
}

async function predict() {
  /** @type {unknown} */
  let request;
  try {
    request = JSON.parse(body.value);
  } catch (error) {
    show('error', `the request is not JSON: ${String(error)}`, 'INVALID_JSON');
    return;
  }
  const response = await fetch(`${modelPath()}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(request),
  });
  if (!response.ok) {
    const { code, message } = await errorOf(response);
    show('error', `${code}: ${message}`, code);
    return;
  }
  /** @type {unknown} */
  const raw = await response.json();
  const answer = /** @type {InferResponse} */ (raw);
  const lines = answer.outputs.map(
    (o) => `${o.name} [${o.shape.join('×')}] ${o.datatype}: ${JSON.stringify(o.data)}`,
  );
  show('ok', [`${answer.model_name} v${answer.model_version ?? '?'}`, ...lines].join('\n'));
}

/** @type {string} */
let listed = '';

/**
 * Lists the status's models and their versions in the form; a choice already made is kept.
 * @param {ConveyorStatus} status
 */
export function listModels(status) {
  const key = JSON.stringify(status.models.map((m) => [m.name, m.versions.map((v) => v.version)]));
  if (key === listed) return;
  listed = key;
  const chosen = modelSelect.value;
  modelSelect.replaceChildren(...status.models.map((m) => new Option(m.name, m.name)));
  const kept = status.models.some((m) => m.name === chosen);
  if (kept) modelSelect.value = chosen;
  listVersions(status);
  if (!kept) void prefill();
}

/** @param {ConveyorStatus} status */
function listVersions(status) {
  const model = status.models.find((m) => m.name === modelSelect.value);
  const chosen = versionSelect.value;
  versionSelect.replaceChildren(
    new Option('newest', ''),
    ...(model?.versions ?? []).map((v) => new Option(v.version, v.version)),
  );
  if (model?.versions.some((v) => v.version === chosen)) versionSelect.value = chosen;
}

/**
 * Wires the form: choosing a model refills the request, sending shows outputs or the error code.
 * @param {() => ConveyorStatus | undefined} latest the status last read
 */
export function wirePredictForm(latest) {
  modelSelect.addEventListener('change', () => {
    const status = latest();
    if (status !== undefined) listVersions(status);
    void prefill();
  });
  versionSelect.addEventListener('change', () => void prefill());
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    show('ok', 'Sending…');
    predict().catch((/** @type {unknown} */ error) => show('error', String(error), 'NETWORK'));
  });
}
