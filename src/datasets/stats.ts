import { extname } from 'node:path';

export interface VersionStats {
  files: number;
  bytes: number;
  dirs: number;
  symlinks: number;
  chunks: number;
  newChunks: number;
  newBytes: number;
  /** Top file extensions by bytes. */
  extensions: Array<{ ext: string; files: number; bytes: number }>;
}

export function extensionStats(
  files: ReadonlyArray<{ path: string; size: number }>,
  top = 10,
): VersionStats['extensions'] {
  const by = new Map<string, { files: number; bytes: number }>();
  for (const f of files) {
    const ext = extname(f.path).toLowerCase() || '(none)';
    const e = by.get(ext) ?? { files: 0, bytes: 0 };
    e.files++;
    e.bytes += f.size;
    by.set(ext, e);
  }
  return [...by]
    .map(([ext, v]) => ({ ext, ...v }))
    .sort((a, b) => b.bytes - a.bytes || a.ext.localeCompare(b.ext))
    .slice(0, top);
}
