import { ExtensionTally } from '../storage/ingest/extensions.js';

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
  const tally = new ExtensionTally();
  for (const f of files) tally.add(f.path, f.size);
  return tally.top(top);
}
