import { open, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { canonicalJson } from '../../core/canonical-json.js';
import { CairnError, ioError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../core/time.js';
import { bulkInsert } from '../../meta/repos/bulk.js';
import type { Database } from '../../meta/schema.js';
import { parseMetricLines, type BadLine, type MetricRecord } from './parse.js';
import { summarize, upsertSummaries } from './summary.js';
import { summarizeBlocks, upsertBlocks } from './blocks.js';
import type { BookkeepingDb } from '../../meta/read-db.js';

/** Rows per INSERT: 500 × 5 values stays far below SQLite's 32,766 and PostgreSQL's 65,535 parameters. */
const ROWS_PER_STATEMENT = 500;
/** Bytes read (and committed in one transaction) per step; also the longest line accepted. */
export const MAX_LINE_BYTES = 1 << 20;
/** Bad lines kept per ingestOnce; the rest are only counted, so a job printing garbage cannot exhaust memory. */
const BAD_SAMPLES = 20;

const METRIC_COLUMNS = ['run_id', 'name', 'step', 'value', 'time'] as const;

export interface MetricsTailerOptions {
  db: BookkeepingDb;
  runId: string;
  /** The job's $CAIRN_METRICS_FILE. It may not exist yet. */
  file: string;
  /** Byte offset to resume from: the `offset` a previous tailer reached (the caller persists it). */
  offset?: number;
  /** Stamps metrics whose line carries no time. */
  clock?: Clock;
  /**
   * Runs inside each batch's transaction with the offset the batch ends at, so a caller that
   * stores the offset here can never count a line twice or lose one across a crash.
   */
  saveOffset?: (trx: Kysely<Database>, offset: number) => Promise<void>;
}

export interface IngestResult {
  params: number;
  metrics: number;
  /** How many lines were refused; `bad` holds the first few of them. */
  badCount: number;
  bad: BadLine[];
  /** Where the next call starts: the end of the last complete line ingested. */
  offset: number;
  /** The file got shorter than the offset (rewritten by the job); ingestion restarted at 0. */
  truncated: boolean;
}

export interface FollowOptions {
  /** Pause between passes (default 1,000 ms). */
  intervalMs?: number;
  /** Ends the loop (after the pass in progress). */
  signal: AbortSignal;
  /** With it, a failed pass is reported and polling goes on; without it, follow() rejects. */
  onError?: (err: unknown) => void;
  onIngest?: (r: IngestResult) => void;
}

/**
 * Follows one run's metrics file and records its params (last value wins) and metrics.
 *
 * Writes go through plain `db` transactions, not an audited WriteTx: this is high-volume
 * telemetry from the job, not a state change of record (the run's own transitions are audited
 * by the run service), and an audit event per batch would dwarf the data.
 *
 * Only complete lines are consumed: a line the job is still writing stays in the file and is
 * read again on the next pass, so `offset` is always a line boundary and safe to persist.
 */
export class MetricsTailer {
  readonly #db: BookkeepingDb;
  readonly #runId: string;
  readonly #file: string;
  readonly #clock: Clock;
  readonly #saveOffset: MetricsTailerOptions['saveOffset'];
  #offset: number;
  /** Inside a line longer than MAX_LINE_BYTES: drop bytes up to the next newline. */
  #skipping = false;
  #runChecked = false;
  /** Serializes passes: follow() and a final ingestOnce() may overlap. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: MetricsTailerOptions) {
    this.#db = opts.db;
    this.#runId = opts.runId;
    this.#file = opts.file;
    this.#clock = opts.clock ?? systemClock;
    this.#saveOffset = opts.saveOffset;
    this.#offset = opts.offset ?? 0;
    if (!Number.isSafeInteger(this.#offset) || this.#offset < 0) {
      throw new CairnError('INVALID_INPUT', `metrics offset must be a byte count ≥ 0, not ${String(opts.offset)}`);
    }
  }

  get offset(): number {
    return this.#offset;
  }

  /**
   * Ingests everything complete in the file now. `final` (the job has ended) also takes a last
   * line that has no newline, since nothing will ever complete it.
   */
  ingestOnce(opts: { final?: boolean } = {}): Promise<IngestResult> {
    const run = this.#queue.then(() => this.#pass(opts.final === true));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Polls until `signal` aborts. Call ingestOnce({ final: true }) once the job has ended. */
  async follow(opts: FollowOptions): Promise<{ params: number; metrics: number; badCount: number }> {
    const total = { params: 0, metrics: 0, badCount: 0 };
    const interval = opts.intervalMs ?? 1000;
    while (!opts.signal.aborted) {
      try {
        const r = await this.ingestOnce();
        total.params += r.params;
        total.metrics += r.metrics;
        total.badCount += r.badCount;
        opts.onIngest?.(r);
      } catch (err) {
        if (!opts.onError) throw err;
        opts.onError(err);
      }
      try {
        await sleep(interval, undefined, { signal: opts.signal });
      } catch {
        break; // aborted
      }
    }
    return total;
  }

  async #pass(final: boolean): Promise<IngestResult> {
    const result: IngestResult = {
      params: 0,
      metrics: 0,
      badCount: 0,
      bad: [],
      offset: this.#offset,
      truncated: false,
    };
    let fh: FileHandle;
    try {
      fh = await open(this.#file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return result; // the job has logged nothing yet
      throw ioError(err, 'read the metrics file', this.#file);
    }
    try {
      await this.#checkRun();
      const { size } = await fh.stat();
      if (size < this.#offset) {
        this.#offset = 0;
        this.#skipping = false;
        result.truncated = true;
      }
      // Per pass, not per tailer: a service following many idle runs should not hold 1 MiB each.
      const buf = this.#offset < size ? Buffer.allocUnsafe(MAX_LINE_BYTES) : Buffer.alloc(0);
      while (this.#offset < size) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - this.#offset), this.#offset);
        if (bytesRead === 0) break;
        const view = buf.subarray(0, bytesRead);
        if (this.#skipping) {
          // Inside an overlong line: drop everything through its newline, parse nothing.
          const first = view.indexOf(0x0a);
          this.#offset += first < 0 ? bytesRead : first + 1;
          this.#skipping = first < 0;
          continue;
        }
        const bad: BadLine[] = [];
        const nl = view.lastIndexOf(0x0a);
        let take: number;
        let text: Buffer;
        if (nl >= 0) {
          take = nl + 1;
          text = view.subarray(0, take);
        } else if (bytesRead === buf.length) {
          bad.push({
            line: view.subarray(0, 200).toString('utf8'),
            reason: `line longer than ${MAX_LINE_BYTES} bytes`,
          });
          this.#skipping = true;
          take = bytesRead;
          text = view.subarray(0, 0);
        } else if (final) {
          take = bytesRead;
          text = Buffer.concat([view, Buffer.from('\n')]);
        } else {
          break; // the job is still writing this line
        }
        const parsed = parseMetricLines(text, '');
        bad.push(...parsed.bad);
        const end = this.#offset + take;
        const counts = await this.#write(parsed.records, end);
        this.#offset = end;
        result.params += counts.params;
        result.metrics += counts.metrics;
        result.badCount += bad.length;
        for (const b of bad) if (result.bad.length < BAD_SAMPLES) result.bad.push(b);
      }
    } finally {
      await fh.close();
    }
    result.offset = this.#offset;
    return result;
  }

  async #checkRun(): Promise<void> {
    if (this.#runChecked) return;
    const row = await this.#db.selectFrom('runs').select('id').where('id', '=', this.#runId).executeTakeFirst();
    if (!row) throw new CairnError('NOT_FOUND', `run ${this.#runId} does not exist`, { data: { runId: this.#runId } });
    this.#runChecked = true;
  }

  /** One transaction per batch: its rows and (via saveOffset) the offset it ends at. */
  async #write(records: readonly MetricRecord[], endOffset: number): Promise<{ params: number; metrics: number }> {
    const params = new Map<string, string>();
    const metrics: Array<[string, string, number | null, number, string]> = [];
    let now: string | null = null;
    for (const r of records) {
      if (r.kind === 'param') {
        // Delete first so the map's order is the order of the last writes.
        params.delete(r.name);
        params.set(r.name, canonicalJson(r.value));
      } else {
        metrics.push([this.#runId, r.name, r.step, r.value, r.time ?? (now ??= this.#clock.now().toISOString())]);
      }
    }
    if (params.size === 0 && metrics.length === 0 && !this.#saveOffset) return { params: 0, metrics: 0 };
    try {
      await this.#db.transaction().execute(async (trx) => {
        const paramRows = [...params].map(([name, value]) => ({ run_id: this.#runId, name, value }));
        // One key per statement at most: PostgreSQL refuses ON CONFLICT DO UPDATE touching a row twice.
        for (let i = 0; i < paramRows.length; i += ROWS_PER_STATEMENT) {
          await trx
            .insertInto('run_params')
            .values(paramRows.slice(i, i + ROWS_PER_STATEMENT))
            .onConflict((oc) =>
              oc.columns(['run_id', 'name']).doUpdateSet((eb) => ({ value: eb.ref('excluded.value') })),
            )
            .execute();
        }
        if (metrics.length) {
          await bulkInsert(trx as unknown as Kysely<never>, 'run_metrics', METRIC_COLUMNS, metrics, {
            batch: ROWS_PER_STATEMENT,
          });
          // The summaries `run show` reads and the blocks curves read, in the same transaction
          // as the points they cover.
          const points = metrics.map(([, name, step, value, time]) => ({ name, step, value, time }));
          await upsertSummaries(trx, this.#runId, summarize(points));
          await upsertBlocks(trx, this.#runId, summarizeBlocks(points));
        }
        if (this.#saveOffset) await this.#saveOffset(trx, endOffset);
      });
    } catch (err) {
      if (err instanceof CairnError) throw err;
      throw new CairnError('DB_ERROR', `cannot record the metrics of run ${this.#runId}: ${(err as Error).message}`, {
        cause: err,
        data: { runId: this.#runId },
      });
    }
    return { params: params.size, metrics: metrics.length };
  }
}

/**
 * Writes a whole run's points with their summaries and blocks, as ingestion does, in the caller's
 * transaction: a run imported by pull (or a push to a team server) arrives with its metrics
 * already logged (docs/REMOTES.md "Runs").
 */
export async function writeMetricPoints(
  db: BookkeepingDb,
  runId: string,
  points: ReadonlyArray<{ name: string; step: number | null; value: number; time: string }>,
): Promise<void> {
  if (!points.length) return;
  const rows = points.map(
    (p) => [runId, p.name, p.step, p.value, p.time] as [string, string, number | null, number, string],
  );
  await bulkInsert(db as unknown as Kysely<never>, 'run_metrics', METRIC_COLUMNS, rows, { batch: ROWS_PER_STATEMENT });
  await upsertSummaries(db, runId, summarize(points));
  await upsertBlocks(db, runId, summarizeBlocks(points));
}
