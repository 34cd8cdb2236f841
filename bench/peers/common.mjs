// Helpers shared by the peer drivers (bench/peers/*.mjs).
import { mkdir, rm, link, copyFile, unlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';

export async function freshDir(dir) {
  if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
}

/**
 * Puts `src` at `dst` without timing cost: a hard link when possible (same file system; the
 * peers only read their inputs), else a copy. Replaces an existing dst.
 */
export async function stage(src, dst, mode = 'link') {
  if (existsSync(dst)) await unlink(dst);
  if (mode === 'link') {
    try {
      await link(src, dst);
      return 'link';
    } catch {
      /* EXDEV etc.: fall back to a copy */
    }
  }
  await copyFile(src, dst);
  return 'copy';
}

export async function removeTree(dir, keep) {
  if (!keep && existsSync(dir)) await rm(dir, { recursive: true, force: true });
}

export const MiB = 2 ** 20;

export function mibPerS(bytes, s) {
  return s > 0 ? bytes / MiB / s : null;
}
