import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** Every folder and file under `root` (hidden ones too) with file sizes: equal when nothing changed. */
export async function snapshot(root: string): Promise<string[]> {
  const items = await readdir(root, { recursive: true, withFileTypes: true });
  const lines = await Promise.all(
    items.map(async (item) => {
      const path = relative(root, join(item.parentPath, item.name));
      return item.isDirectory() ? `${path}/` : `${path} ${(await stat(join(root, path))).size}`;
    }),
  );
  return lines.sort();
}
