import type { BlobLocation } from './pack/reader.js';

/**
 * The storage engine's view of the one chunk index that deduplicates across every version.
 * It lives in the metadata database (so it commits atomically with the versions that need
 * it); the composition root adapts the metadata repositories to this port.
 */
export interface BlobIndex {
  /** The subset of `ids` already stored in committed packs. */
  has(ids: readonly string[]): Promise<Set<string>>;
  /** Where each of `ids` is stored; ids that are not stored are absent from the map. */
  locate(ids: readonly string[]): Promise<Map<string, BlobLocation & { kind: number }>>;
  /**
   * The subset of pack ids metadata records. Optional: without it a writer that fails never
   * deletes a pack it sealed (see objects/discard.ts); it stays for the next add or gc.
   */
  knownPacks?(ids: readonly string[]): Promise<Set<string>>;
}
