import type { VersionStats } from '../../datasets/index.js';
import type { FinishedPack } from '../../storage/pack/writer.js';

/** A new version's content, written to packs but not yet recorded in metadata. */
export interface ComposeResult {
  rootId: string;
  stats: VersionStats;
  packs: FinishedPack[];
  discard(): Promise<void>;
}
