/**
 * The latest signed checkpoint, kept outside the metadata database (app/ puts it in a file
 * beside the signing key). Someone who can only write the database can delete every checkpoint
 * row and rewrite entries; this copy still remembers what the log committed to, so Cairn never
 * signs the rewritten tree and `audit verify` names the mismatch. Docs: docs/AUDIT.md §3.
 */
export interface KeptCheckpoint {
  /** Where it lies, for messages (e.g. `.cairn/keys/checkpoint`). */
  readonly where: string;
  /** The signed note, or null when none has been kept yet. */
  read(): string | null;
  /** Replaces the kept note (atomically: a reader sees the old or the new one, never a mix). */
  write(note: string): Promise<void>;
}

/** A checkpoint known to this process from somewhere other than the log itself. */
export interface KnownCheckpoint {
  size: number;
  /** Hex root hash. */
  root: string;
  note: string;
  /** Where it came from, for messages: "in the database", "in .cairn/keys/checkpoint", "on remote origin". */
  where: string;
}
