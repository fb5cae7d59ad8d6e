/**
 * Table rows of a markdown document whose first cell is one backticked name matching `name`
 * (its first group), keyed by that name; each row's cells, trimmed. A name in two rows throws.
 */
export function tableRows(markdown: string, name: RegExp): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of markdown.split('\n')) {
    if (!line.trimStart().startsWith('|')) continue;
    const cells = line
      .trim()
      .replace(/^\||\|$/g, '')
      .split('|')
      .map((cell) => cell.trim());
    const found = name.exec(cells[0] ?? '')?.[1];
    if (found === undefined) continue;
    if (rows.has(found)) throw new Error(`${found} has more than one row`);
    rows.set(found, cells);
  }
  return rows;
}
