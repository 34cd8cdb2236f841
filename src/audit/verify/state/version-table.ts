/**
 * The dataset versions the log vouches for, kept compact: a workspace can hold millions, and a
 * map of `name@vN` strings to objects made reconciling them mostly garbage collection. Each
 * version is a slot in parallel arrays (its digest 32 bytes in one growing buffer), found
 * through its dataset's name and its number; the last event to vouch for a version wins, as
 * with a map.
 */
export class VersionTable {
  readonly #byName = new Map<string, { ordinal: number; slots: Map<number, number> }>();
  readonly #datasets: string[] = [];
  readonly #dataset: number[] = [];
  readonly numbers: number[] = [];
  /** The index of the event that vouched for the version, and its action. */
  readonly indexes: number[] = [];
  readonly actions: string[] = [];
  /** The event's actor (null: any author is accepted). */
  readonly authors: Array<string | null> = [];
  #digests = new Uint8Array(32 * 1024);
  readonly #scratch = new Uint8Array(32);

  get size(): number {
    return this.numbers.length;
  }

  /**
   * Records that event `index` vouches for `name@v<number>` with the tree digest whose 64 hex
   * characters start at `text[from]` (`sha256:` already skipped). Returns false, recording
   * nothing, when they are not 64 lowercase hex digits ending at `to`.
   */
  set(
    name: string,
    number: number,
    index: number,
    action: string,
    author: string | null,
    text: string,
    from = 0,
    to = text.length,
  ): boolean {
    if (to - from !== 64 || !decodeHex(text, from, this.#scratch)) return false;
    let d = this.#byName.get(name);
    if (!d) {
      d = { ordinal: this.#datasets.length, slots: new Map() };
      this.#byName.set(name, d);
      this.#datasets.push(name);
    }
    let slot = d.slots.get(number);
    if (slot === undefined) {
      slot = this.numbers.length;
      d.slots.set(number, slot);
      this.#dataset.push(d.ordinal);
      this.numbers.push(number);
      this.indexes.push(index);
      this.actions.push(action);
      this.authors.push(author);
      if ((slot + 1) * 32 > this.#digests.length) {
        const grown = new Uint8Array(this.#digests.length * 2);
        grown.set(this.#digests);
        this.#digests = grown;
      }
    } else {
      this.indexes[slot] = index;
      this.actions[slot] = action;
      this.authors[slot] = author;
    }
    this.#digests.set(this.#scratch, slot * 32);
    return true;
  }

  /** The slots of one dataset's versions by number (undefined: no event vouches for any). */
  slotsOf(name: string): ReadonlyMap<number, number> | undefined {
    return this.#byName.get(name)?.slots;
  }

  /** Whether the slot's digest is `hex` (64 lowercase hex digits), compared without decoding it into a new string. */
  digestIs(slot: number, hex: string): boolean {
    if (typeof hex !== 'string' || hex.length !== 64) return false;
    const d = this.#digests;
    const at = slot * 32;
    for (let i = 0; i < 32; i++) {
      const hi = nibble(hex.charCodeAt(2 * i));
      const lo = nibble(hex.charCodeAt(2 * i + 1));
      if (hi < 0 || lo < 0 || d[at + i] !== hi * 16 + lo) return false;
    }
    return true;
  }

  /** The slot's digest as bare hex (for messages). */
  digest(slot: number): string {
    return Buffer.from(this.#digests.buffer, this.#digests.byteOffset + slot * 32, 32).toString('hex');
  }

  key(slot: number): string {
    return `${this.#datasets[this.#dataset[slot]!]}@v${this.numbers[slot]}`;
  }
}

/** 0-15 for a lowercase hex digit's char code, else -1. */
function nibble(c: number): number {
  return c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
}

function decodeHex(text: string, from: number, out: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) {
    const hi = nibble(text.charCodeAt(from + 2 * i));
    const lo = nibble(text.charCodeAt(from + 2 * i + 1));
    if (hi < 0 || lo < 0) return false;
    out[i] = hi * 16 + lo;
  }
  return true;
}
