import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, MODELS, jsonLines, tempDir } from './support.js';

/**
 * `conveyor batch` as a person sees it: in a real terminal (tmux), where stderr is a TTY and the
 * progress is a cli-progress bar redrawn in place, interrupted with Ctrl-C and run again.
 * What is asserted is what the screen shows and what the files hold, never how long it took.
 */

const ROWS = 100_000;
const SOCKET = `conveyor-test-${process.pid}`;
const SESSION = 'cli';

const tmux = (...args: string[]): string =>
  execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });

/** The visible screen of the pane, as text. */
const screen = (): string => tmux('capture-pane', '-p', '-t', SESSION);

/** Types a line into the pane's shell, as a person would, and presses Enter. */
const type = (line: string): void => {
  tmux('send-keys', '-t', SESSION, '-l', line);
  tmux('send-keys', '-t', SESSION, 'Enter');
};

/** Reads the screen until `pattern` appears on it (the test's own timeout bounds the wait). */
async function waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
  for (;;) {
    const match = screen().match(pattern);
    if (match) return match;
    await sleep(50);
  }
}

/** The bar's `value/total rows` figures, while it is drawn. */
const BAR = /batch .*?(\d+)% \| (\d+)\/(\d+) rows \| (\d+) failed \| \d+ rows\/s \| ETA/;

describe('conveyor batch in a terminal', () => {
  const dir = tempDir();
  const input = join(dir, 'flowers.csv');
  const out = join(dir, 'predictions.jsonl');
  const failed = join(dir, 'bad-rows.jsonl');
  const command = [
    `node ${CLI}`,
    `batch iris ${input} --embedded --out ${out} --failed ${failed}`,
    // The exit code on the screen, as a person checks it.
    `; echo "exit=$?"`,
  ].join(' ');

  beforeAll(() => {
    const lines = ['sepal_length,sepal_width,petal_length,petal_width'];
    for (let row = 0; row < ROWS; row += 1) {
      // One bad row, early, so the bar counts a failure while it runs.
      lines.push(
        row === 10 ? 'abc,3.0,1.4,0.2' : `${(4 + (row % 40) / 10).toFixed(1)},3.0,1.4,0.2`,
      );
    }
    writeFileSync(input, `${lines.join('\n')}\n`);
    // A fixed size, a plain shell, and the repository's models; the pane stays after commands end.
    tmux(
      'new-session',
      '-d',
      '-s',
      SESSION,
      '-x',
      '200',
      '-y',
      '50',
      `env -i PATH="${process.env.PATH ?? ''}" HOME="${dir}" TERM=xterm-256color MODEL_REPOSITORY="${MODELS}" LOG_LEVEL=warn PS1='$ ' bash --norc --noprofile`,
    );
  });

  afterAll(() => {
    try {
      tmux('kill-server');
    } catch {
      // Already gone.
    }
  });

  it('draws a progress bar that moves, stops at Ctrl-C with exit 130, and resumes to the end when run again', async () => {
    type(command);

    // The bar is drawn part-way, with the bad row already counted, then redrawn further on.
    const early = await waitFor(BAR);
    const firstValue = Number(early[2]);
    expect(Number(early[3])).toBe(ROWS);
    const later = await waitFor(
      new RegExp(`batch .*? \\| (\\d+)/${ROWS} rows \\| 1 failed \\|`, 'u'),
    );
    const laterValue = Number(later[1]);
    expect(laterValue).toBeGreaterThan(0);
    expect(laterValue).toBeLessThan(ROWS);
    expect(laterValue).toBeGreaterThanOrEqual(firstValue);

    // Ctrl-C: the run stops cleanly, says how to resume, and exits 130.
    tmux('send-keys', '-t', SESSION, 'C-c');
    await waitFor(/exit=\d+/);
    const stopped = screen();
    expect(stopped).toMatch(/interrupted: run the same command again to resume/);
    expect(stopped).toMatch(/exit=130/);
    const doneBefore = jsonLines(readFileSync(out, 'utf8')).length;
    expect(doneBefore).toBeGreaterThan(0);
    expect(doneBefore).toBeLessThan(ROWS - 1);

    // The same command again: it skips what finished and ends with every row accounted for.
    tmux('send-keys', '-t', SESSION, 'C-l');
    tmux('clear-history', '-t', SESSION);
    type(command);
    await waitFor(/exit=\d+/);
    const end = screen();
    expect(end).toMatch(new RegExp(`100% \\| ${ROWS}/${ROWS} rows`, 'u'));
    expect(end).toMatch(/already done/);
    // One row was bad: exit 3, and it is in the failed file with its code.
    expect(end).toMatch(/exit=3/);
    const records = jsonLines(readFileSync(out, 'utf8'));
    expect(records).toHaveLength(ROWS - 1);
    expect(new Set(records.map((r) => r.line)).size).toBe(ROWS - 1);
    const bad = jsonLines(readFileSync(failed, 'utf8'));
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatchObject({ line: 12 });
    expect(JSON.stringify(bad[0])).toMatch(/ERR_/);
  });

  it('answers bad input on the terminal with one readable line and exit 2', async () => {
    tmux('send-keys', '-t', SESSION, 'C-l');
    tmux('clear-history', '-t', SESSION);
    // Its own marker: the clear above is asynchronous, and the last test's `exit=0` may still show.
    type(
      `node ${CLI} batch iris ${join(dir, 'missing.csv')} --embedded --out ${join(dir, 'x.jsonl')}; echo "missing-exit=$?"`,
    );
    await waitFor(/missing-exit=\d+/);
    const text = screen();
    expect(text).toMatch(/^conveyor: ERR_[A-Z_]+: .*missing\.csv/mu);
    expect(text).toMatch(/missing-exit=2/);
    // No stack trace reaches the person.
    expect(text).not.toMatch(/\n\s+at /u);
  });
});
