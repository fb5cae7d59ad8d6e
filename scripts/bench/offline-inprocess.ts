/**
 * The in-process baseline of scenario 10: reads the same CSV as `conveyor batch`, predicts in
 * batches of 64 with onnxruntime-node and writes the same JSON lines
 * (`{"line": n, "outputs": {name: nested rows}}`, the header being line 1).
 * Usage: offline-inprocess.ts <model.onnx> <in.csv> <out.jsonl>
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { loadOrt } from './ort.js';

const BATCH = 64;
const [modelPath, csvPath, outPath] = process.argv.slice(2);
if (modelPath === undefined || csvPath === undefined || outPath === undefined) {
  process.stderr.write('usage: offline-inprocess.ts <model.onnx> <in.csv> <out.jsonl>\n');
  process.exit(2);
}
const ort = loadOrt();
const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
const inputName = session.inputNames[0] ?? '';
const outputName = session.outputNames[0] ?? '';
const out = createWriteStream(outPath);
let width = 0;
let lines: number[] = [];
let values: number[] = [];
let rows = 0;

async function flush(): Promise<void> {
  if (lines.length === 0) return;
  const input = new ort.Tensor('float32', Float32Array.from(values), [lines.length, width]);
  const result = (await session.run({ [inputName]: input }))[outputName];
  if (!result) throw new Error(`no output ${outputName}`);
  const per = result.data.length / lines.length;
  let text = '';
  for (let i = 0; i < lines.length; i++) {
    const row = Array.from(result.data.subarray(i * per, (i + 1) * per));
    text += `${JSON.stringify({ line: lines[i], outputs: { [outputName]: [row] } })}\n`;
  }
  rows += lines.length;
  lines = [];
  values = [];
  if (!out.write(text)) await once(out, 'drain');
}

let lineNumber = 0;
for await (const line of createInterface({
  input: createReadStream(csvPath),
  crlfDelay: Infinity,
})) {
  lineNumber += 1;
  if (lineNumber === 1) {
    width = line.split(',').length;
    continue;
  }
  if (line === '') continue;
  lines.push(lineNumber);
  for (const cell of line.split(',')) values.push(Number(cell));
  if (lines.length === BATCH) await flush();
}
await flush();
out.end();
await once(out, 'finish');
await session.release();
process.stdout.write(`${JSON.stringify({ rows })}\n`);
