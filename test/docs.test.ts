import { readFileSync } from 'node:fs';
import {
  CONFIG_KEYS,
  ERROR_CATALOGUE,
  ERROR_CODES,
  isErrorCode,
  loadConfig,
} from '@conveyor/shared';
import { describe, expect, it } from 'vitest';
import { tableRows } from './support/markdown.js';

const read = (path: string) => readFileSync(new URL(`../docs/${path}`, import.meta.url), 'utf8');

/** Table rows whose first cell is one backticked upper-case name (a setting, an error code). */
const tableRowsOf = (markdown: string) => tableRows(markdown, /^`([A-Z][A-Z0-9_]*)`$/);

/** Names a document gives a heading of their own, as in `### \`NAME\``. */
function headingNames(markdown: string): string[] {
  return [...markdown.matchAll(/^#{2,6}\s+`?([A-Z][A-Z0-9_]*)`?\s*$/gm)].map(
    (match) => match[1] ?? '',
  );
}

const sorted = (names: Iterable<string>) => [...new Set(names)].sort();

describe('docs/errors.md', () => {
  const doc = read('errors.md');
  const rows = tableRowsOf(doc);

  it('documents every code of the catalogue in its table', () => {
    expect(
      ERROR_CODES.filter((code) => !rows.has(code) && !headingNames(doc).includes(code)),
    ).toEqual([]);
  });

  it('names no error code that the catalogue does not have', () => {
    const named = doc.match(/\bERR_[A-Z0-9_]*[A-Z0-9]\b/g) ?? [];
    expect(sorted(named.filter((code) => !isErrorCode(code)))).toEqual([]);
  });

  it('gives each code the HTTP status and retryability of the catalogue', () => {
    for (const [code, cells] of rows) {
      if (!isErrorCode(code)) continue;
      const entry = ERROR_CATALOGUE[code];
      expect({ code, status: cells[1], retryable: cells[2] }).toEqual({
        code,
        status: String(entry.status),
        retryable: entry.retryable ? 'yes' : 'no',
      });
    }
  });
});

describe('docs/configuration.md', () => {
  const doc = read('configuration.md');
  const rows = tableRowsOf(doc);
  const documented = sorted([...rows.keys(), ...headingNames(doc)]);

  it('documents every variable of ConfigSchema', () => {
    expect(CONFIG_KEYS.filter((key) => !documented.includes(key))).toEqual([]);
  });

  it('documents no variable that ConfigSchema does not read', () => {
    expect(documented.filter((name) => !(CONFIG_KEYS as readonly string[]).includes(name))).toEqual(
      [],
    );
  });

  it('states the default of each scalar variable as the schema has it', () => {
    const defaults = loadConfig({});
    for (const [name, cells] of rows) {
      const value: unknown = (defaults as Record<string, unknown>)[name];
      if (typeof value !== 'string' && typeof value !== 'number') continue;
      expect({ name, default: cells[2]?.includes(`\`${value}\``) }).toEqual({
        name,
        default: true,
      });
    }
  });
});
