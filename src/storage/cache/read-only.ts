import * as fs from 'node:fs';
import { join } from 'node:path';

/**
 * Removes a directory tree whose directories may be read-only (cache entries are, so that a
 * job cannot add to them by accident). Without write permission on a directory its entries
 * cannot be unlinked, so directories are made writable on the way down first. Never follows
 * symlinks; a missing path is not an error.
 */
export function removeTree(path: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch {
    return;
  }
  if (st.isDirectory()) makeWritable(path);
  fs.rmSync(path, { recursive: true, force: true });
}

function makeWritable(dir: string): void {
  try {
    fs.chmodSync(dir, 0o755);
  } catch {
    return;
  }
  let names: fs.Dirent[];
  try {
    names = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const d of names) if (d.isDirectory()) makeWritable(join(dir, d.name));
}
