/** Commit requests in flight at once, and upload ids in one (far below the JSON body limit). */
const COMMIT_CONCURRENCY = 4;
const COMMIT_BATCH = 256;

/**
 * Commits of uploaded packs, sent while later packs upload: up to COMMIT_CONCURRENCY requests in
 * flight, each carrying every upload id queued by then (one audit event on the server for several
 * packs). The first failure sticks: `check` and `settled` throw it from then on.
 */
export class CommitQueue {
  readonly #send: (uploads: string[]) => Promise<unknown>;
  #queued: string[] = [];
  #inFlight = 0;
  #failure: { err: unknown } | null = null;
  #idle: Array<() => void> = [];
  readonly #concurrency: number;
  readonly #batch: number;

  constructor(send: (uploads: string[]) => Promise<unknown>, opts: { concurrency?: number; batch?: number } = {}) {
    this.#send = send;
    this.#concurrency = opts.concurrency ?? COMMIT_CONCURRENCY;
    this.#batch = opts.batch ?? COMMIT_BATCH;
  }

  add(uploadId: string): void {
    this.#queued.push(uploadId);
    this.#pump();
  }

  /** Throws the first commit that failed. */
  check(): void {
    if (this.#failure) throw this.#failure.err;
  }

  /** Resolves once nothing is queued or in flight; throws the first commit that failed. */
  async settled(): Promise<void> {
    while (this.#queued.length || this.#inFlight) await new Promise<void>((r) => this.#idle.push(r));
    this.check();
  }

  #pump(): void {
    while (this.#inFlight < this.#concurrency && this.#queued.length) {
      const batch = this.#queued.splice(0, this.#batch);
      // After a failure the rest are not sent: their plans expire on the server unused.
      if (this.#failure) continue;
      this.#inFlight++;
      Promise.resolve()
        .then(() => this.#send(batch))
        .catch((err: unknown) => {
          this.#failure ??= { err };
        })
        .finally(() => {
          this.#inFlight--;
          this.#pump();
        });
    }
    if (!this.#queued.length && !this.#inFlight) for (const r of this.#idle.splice(0)) r();
  }
}
