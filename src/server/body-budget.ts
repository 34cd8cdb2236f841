import { CairnError } from '../core/errors.js';

/** An account's limits within the budget (docs/SERVER.md "Data plane"). */
export interface AccountShare {
  /** The most bytes one account's bodies hold at once (its first body may take more: up to the whole budget). */
  bytes: number;
  /** The most bodies one account may have waiting; one more is refused with UPLOADS_BUSY. */
  waiting: number;
}

/** How long a refused sender is told to wait (Retry-After): about as long as a held body's next progress. */
export const UPLOADS_BUSY_RETRY_S = 5;

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
 *
 * One account holds at most its share (`share.bytes`) once it holds one body: without it, one
 * account's uploads could take the whole budget and every other push waited behind them. A body
 * over its account's share waits and is passed over, so it keeps no other account's body waiting.
 */
export class BodyBudget {
  #free: number;
  readonly #total: number;
  readonly #share: AccountShare;
  readonly #waiting: Array<{ bytes: number; account: string; go: () => void }> = [];
  /** Bodies held per account, and their bytes. */
  readonly #holding = new Map<string, { bodies: number; bytes: number }>();
  /** When each account was last granted a body (a count of grants). */
  readonly #served = new Map<string, number>();
  #grants = 0;

  constructor(total: number, share: Partial<AccountShare> = {}) {
    this.#total = total;
    this.#free = total;
    this.#share = { bytes: share.bytes ?? total, waiting: share.waiting ?? Infinity };
  }

  /**
   * Resolves once `bytes` (at most the whole budget) are taken; call the returned release once the
   * body is answered. Throws UPLOADS_BUSY at once when the account already has its most bodies waiting.
   */
  async take(bytes: number, account = ''): Promise<() => void> {
    const n = Math.min(Math.max(0, bytes), this.#total);
    const queued = this.#waiting.reduce((c, w) => c + (w.account === account ? 1 : 0), 0);
    if (queued >= this.#share.waiting)
      throw new CairnError('UPLOADS_BUSY', `${queued} uploads of this account already wait for the server's memory`, {
        hint: `retry after ${UPLOADS_BUSY_RETRY_S} s, or send fewer uploads at once`,
        data: { waiting: queued, shareBytes: this.#share.bytes, retryAfterSeconds: UPLOADS_BUSY_RETRY_S },
      });
    await new Promise<void>((go) => {
      this.#waiting.push({ bytes: n, account, go });
      this.#wake();
    });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#free += n;
      const h = this.#holding.get(account) ?? { bodies: 1, bytes: n };
      if (h.bodies > 1) this.#holding.set(account, { bodies: h.bodies - 1, bytes: h.bytes - n });
      else this.#holding.delete(account);
      this.#wake();
    };
  }

  #grant(n: number, account: string): void {
    this.#free -= n;
    const h = this.#holding.get(account) ?? { bodies: 0, bytes: 0 };
    this.#holding.set(account, { bodies: h.bodies + 1, bytes: h.bytes + n });
    this.#served.set(account, ++this.#grants);
  }

  /** Whether the account may hold `n` more bytes: always its first body, then up to its share. */
  #withinShare(account: string, n: number): boolean {
    const h = this.#holding.get(account);
    return !h || h.bytes + n <= this.#share.bytes;
  }

  /**
   * The waiter served next (see the class comment): each account's earliest, when within its
   * share — an account's bodies keep their order, so a small one does not overtake its own large
   * one for ever; -1 when none.
   */
  #next(): number {
    let best = -1;
    let key: [number, number] = [Infinity, Infinity];
    const seen = new Set<string>();
    this.#waiting.forEach((w, i) => {
      if (seen.has(w.account)) return;
      seen.add(w.account);
      if (!this.#withinShare(w.account, w.bytes)) return;
      const k: [number, number] = [this.#holding.get(w.account)?.bodies ?? 0, this.#served.get(w.account) ?? 0];
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
