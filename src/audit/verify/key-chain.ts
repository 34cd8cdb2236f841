import { openCheckpoint, type NoteVerifier } from '../note/index.js';
import { openKeyTransition } from '../log/key-transition.js';

export type ChainKey = NoteVerifier & { vkey: string };

/**
 * Which key must sign a checkpoint of the log, followed from its first key through the
 * `keys.rotate` transitions in its entries (docs/AUDIT.md §8, key custody). A checkpoint that
 * does not cover a transition is signed by the key before it; one that covers it, by the key
 * after. A transition counts only when the then-current key signed it and the new key
 * countersigned it; anything else leaves the current key as it was.
 */
export class KeyChain {
  readonly origin: string;
  #current: ChainKey;
  /** Every key the chain went through, oldest first, with the size from which it signs. */
  readonly keys: Array<{ key: ChainKey; from: number }>;

  constructor(origin: string, first: ChainKey) {
    this.origin = origin;
    this.#current = first;
    this.keys = [{ key: first, from: 0 }];
  }

  get current(): ChainKey {
    return this.#current;
  }

  /** The transition note carried by entry `idx`; returns why it is refused, or null when the chain moved on. */
  transition(idx: number, note: unknown): string | null {
    if (typeof note !== 'string') return `entry ${idx} is a key rotation without a transition statement`;
    try {
      const { next } = openKeyTransition(note, this.origin, this.#current);
      if (this.keys.some((k) => k.key.vkey === next.vkey))
        return `entry ${idx} hands the log back to a key it already retired (${next.vkey})`;
      this.#current = next;
      this.keys.push({ key: next, from: idx + 1 });
      return null;
    } catch (err) {
      return `entry ${idx} is not a valid key transition: ${(err as Error).message}`;
    }
  }

  /**
   * Checks that `note` (a checkpoint of `size`, reached by the verifier now) is signed by the
   * key current at that size. Returns the reason it is not, naming a retired key when one signed it.
   */
  checkSignature(note: string, size: number): string | null {
    const expected = this.#keyAt(size);
    try {
      openCheckpoint(note, [expected]);
      return null;
    } catch (err) {
      const other = this.keys.find((k) => k.key !== expected && signs(note, k.key));
      if (other && other.from < size)
        return `the checkpoint at size ${size} is signed by the retired key ${other.key.vkey}, not by ${expected.vkey}, which the log handed over to before it`;
      if (other)
        return `the checkpoint at size ${size} is signed by ${other.key.vkey}, which the log names only from size ${other.from}`;
      return `the checkpoint at size ${size} is not signed by the log's key ${expected.vkey} (a key the log never announced?): ${(err as Error).message}`;
    }
  }

  #keyAt(size: number): ChainKey {
    // A checkpoint of size s covers entries [0, s): the transition at entry t (from = t + 1) counts when t < s.
    let k = this.keys[0]!.key;
    for (const e of this.keys) if (e.from <= size) k = e.key;
    return k;
  }

  /** Whether `key` is anywhere in the chain. */
  has(vkey: string): boolean {
    return this.keys.some((k) => k.key.vkey === vkey);
  }
}

function signs(note: string, key: NoteVerifier): boolean {
  try {
    openCheckpoint(note, [key]);
    return true;
  } catch {
    return false;
  }
}
