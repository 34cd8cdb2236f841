/**
 * The request bodies a server holds in memory at once, in bytes. The store's byte routes read a
 * whole body before their handler runs (a folder store's pack, up to 1 GiB); without a bound, a
 * few slow uploads from one contributor held gigabytes until the process was killed. A body
 * takes its declared size (or the route's limit when it declares none) before it is read, and
 * waits unread — its bytes stay in the sender's socket, which TCP slows — until the bodies ahead
 * of it are answered. One body larger than the whole budget takes all of it.
 */
export class BodyBudget {
  #free: number;
  readonly #total: number;
  readonly #waiting: Array<{ bytes: number; go: () => void }> = [];

  constructor(total: number) {
    this.#total = total;
    this.#free = total;
  }

  /** Resolves once `bytes` (at most the whole budget) are taken; call the returned release once the body is answered. */
  async take(bytes: number): Promise<() => void> {
    const n = Math.min(Math.max(0, bytes), this.#total);
    if (this.#waiting.length > 0 || this.#free < n)
      await new Promise<void>((go) => this.#waiting.push({ bytes: n, go }));
    else this.#free -= n;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#free += n;
      this.#wake();
    };
  }

  /** In arrival order: a large body is not overtaken for ever by smaller ones. */
  #wake(): void {
    while (this.#waiting.length > 0 && this.#waiting[0]!.bytes <= this.#free) {
      const w = this.#waiting.shift()!;
      this.#free -= w.bytes;
      w.go();
    }
  }
}
