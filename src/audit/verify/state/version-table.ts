/**
 * The dataset versions the log vouches for, kept compact: a workspace can hold millions, and a
 * map of `name@vN` strings to objects made reconciling them mostly garbage collection. Each
 * version is a slot in parallel arrays, found through its dataset's name and its number; the
 * last event to vouch for a version wins, as with a map.
 */
export class VersionTable {
  readonly #byName = new Map<string, Map<number, number>>();
  readonly names: string[] = [];
  readonly numbers: number[] = [];
  /** The index of the event that vouched for the version, and its action. */
  readonly indexes: number[] = [];
  readonly actions: string[] = [];
  /** Bare hex tree digests. */
  readonly digests: string[] = [];
  /** The event's actor (null: any author is accepted). */
  readonly authors: Array<string | null> = [];

  get size(): number {
    return this.names.length;
  }

  set(name: string, number: number, index: number, action: string, digest: string, author: string | null): void {
    let slots = this.#byName.get(name);
    if (!slots) this.#byName.set(name, (slots = new Map()));
    let slot = slots.get(number);
    if (slot === undefined) {
      slot = this.names.length;
      slots.set(number, slot);
      this.names.push(name);
      this.numbers.push(number);
    }
    this.indexes[slot] = index;
    this.actions[slot] = action;
    this.digests[slot] = digest;
    this.authors[slot] = author;
  }

  /** The slots of one dataset's versions by number (undefined: no event vouches for any). */
  slotsOf(name: string): ReadonlyMap<number, number> | undefined {
    return this.#byName.get(name);
  }

  key(slot: number): string {
    return `${this.names[slot]}@v${this.numbers[slot]}`;
  }
}
