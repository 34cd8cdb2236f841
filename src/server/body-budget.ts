/**
 * The request bodies a server holds in memory at once, in bytes. The store's byte routes read a
 * whole body before their handler runs (a folder store's pack, up to 1 GiB); without a bound, a
 * few slow uploads from one contributor held gigabytes until the process was killed. A body
 * takes its declared size (or the route's limit when it declares none) before it is read, and
 * waits unread — its bytes stay in the sender's socket, which TCP slows — until the bodies ahead
 * of it are answered. One body larger than the whole budget takes all of it.
 *
 * Waiting bodies are served one account at a time: the next is that of the account holding the
 * fewest bodies, then the one served longest ago, then the earliest — so one account's many bodies
 * queued ahead do not keep another account's body waiting behind all of them.
 */
export class BodyBudget {
  #free: number;
  readonly #total: number;
  readonly #waiting: Array<{ bytes: number; account: string; go: () => void }> = [];
  /** Bodies held per account. */
  readonly #holding = new Map<string, number>();
  /** When each account was last granted a body (a count of grants). */
  readonly #served = new Map<string, number>();
  #grants = 0;

  constructor(total: number) {
    this.#total = total;
    this.#free = total;
  }

  /** Resolves once `bytes` (at most the whole budget) are taken; call the returned release once the body is answered. */
  async take(bytes: number, account = ''): Promise<() => void> {
    const n = Math.min(Math.max(0, bytes), this.#total);
    if (this.#waiting.length > 0 || this.#free < n)
      await new Promise<void>((go) => this.#waiting.push({ bytes: n, account, go }));
    else this.#grant(n, account);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#free += n;
      const held = (this.#holding.get(account) ?? 1) - 1;
      if (held > 0) this.#holding.set(account, held);
      else this.#holding.delete(account);
      this.#wake();
    };
  }

  #grant(n: number, account: string): void {
    this.#free -= n;
    this.#holding.set(account, (this.#holding.get(account) ?? 0) + 1);
    this.#served.set(account, ++this.#grants);
  }

  /** The waiter served next (see the class comment); -1 when none waits. */
  #next(): number {
    let best = -1;
    let key: [number, number] = [Infinity, Infinity];
    this.#waiting.forEach((w, i) => {
      const k: [number, number] = [this.#holding.get(w.account) ?? 0, this.#served.get(w.account) ?? 0];
      if (k[0] < key[0] || (k[0] === key[0] && k[1] < key[1])) [best, key] = [i, k];
    });
    return best;
  }

  /** The chosen waiter first, and only when it fits: a large body is not overtaken for ever by smaller ones. */
  #wake(): void {
    for (;;) {
      const at = this.#next();
      const w = this.#waiting[at];
      if (!w || w.bytes > this.#free) return;
      this.#waiting.splice(at, 1);
      this.#grant(w.bytes, w.account);
      w.go();
    }
  }
}
