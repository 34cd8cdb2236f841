import type { Kysely } from 'kysely';
import { METRIC_BLOCK_MAX_LEVEL, METRIC_BLOCK_MIN_LEVEL } from '../../core/metric-blocks.js';
import { rawQuery } from '../../meta/repos/bulk.js';
import type { BookkeepingDb } from '../../meta/read-db.js';
import type { Point } from './summary.js';

/** The stepped points of one metric in one 2^level-aligned range of steps, summed up. */
export interface Block {
  name: string;
  level: number;
  block: number;
  points: number;
  firstStep: number;
  lastStep: number;
  min: number;
  max: number;
  sum: number;
}

type Agg = Omit<Block, 'name' | 'level' | 'block'>;

/**
 * The x-axis grid of a stepped curve in at most `buckets` buckets: the smallest k such that
 * the 2^k-aligned step ranges [b·2^k, (b+1)·2^k) from the first step to the last number at
 * most `buckets`. Aligned power-of-two ranges are what lets a bucket be one stored block.
 */
export function stepLevel(firstStep: number, lastStep: number, buckets: number): number {
  let k = 0;
  while (Math.floor(lastStep / 2 ** k) - Math.floor(firstStep / 2 ** k) + 1 > buckets) k++;
  return k;
}

/**
 * A batch's blocks at every kept level: the finest from the points, each coarser one from the
 * one below, so a batch of n dense points costs about n + n/16 map updates, not n per level.
 */
export function summarizeBlocks(points: Iterable<Point>): Block[] {
  let level = new Map<string, Map<number, Agg>>();
  const width = 2 ** METRIC_BLOCK_MIN_LEVEL;
  for (const p of points) {
    if (p.step === null) continue;
    let byBlock = level.get(p.name);
    if (!byBlock) level.set(p.name, (byBlock = new Map()));
    const b = Math.floor(p.step / width);
    const a = byBlock.get(b);
    if (!a)
      byBlock.set(b, { points: 1, firstStep: p.step, lastStep: p.step, min: p.value, max: p.value, sum: p.value });
    else {
      a.points++;
      if (p.step < a.firstStep) a.firstStep = p.step;
      if (p.step > a.lastStep) a.lastStep = p.step;
      if (p.value < a.min) a.min = p.value;
      if (p.value > a.max) a.max = p.value;
      a.sum += p.value;
    }
  }
  const out: Block[] = [];
  for (let k = METRIC_BLOCK_MIN_LEVEL; ; k++) {
    for (const [name, byBlock] of level) for (const [block, a] of byBlock) out.push({ name, level: k, block, ...a });
    if (k === METRIC_BLOCK_MAX_LEVEL) return out;
    const up = new Map<string, Map<number, Agg>>();
    for (const [name, byBlock] of level) {
      const next = new Map<number, Agg>();
      up.set(name, next);
      for (const [block, a] of byBlock) {
        const b = Math.floor(block / 2);
        const c = next.get(b);
        if (!c) next.set(b, { ...a });
        else {
          c.points += a.points;
          c.firstStep = Math.min(c.firstStep, a.firstStep);
          c.lastStep = Math.max(c.lastStep, a.lastStep);
          c.min = Math.min(c.min, a.min);
          c.max = Math.max(c.max, a.max);
          c.sum += a.sum;
        }
      }
    }
    level = up;
  }
}

/** 500 rows × 10 values per statement: far below SQLite's 32,766 and PostgreSQL's 65,535 parameters. */
const ROWS_PER_STATEMENT = 500;
const COLUMNS = 'run_id, name, level, block, points, first_step, last_step, min_value, max_value, sum_value';
const t = 'run_metric_blocks';
/** The database merges a batch into the stored blocks (one upsert), so two writers never lose each other's points. */
const MERGE = `on conflict (run_id, name, level, block) do update set
  points = ${t}.points + excluded.points,
  first_step = case when excluded.first_step < ${t}.first_step then excluded.first_step else ${t}.first_step end,
  last_step = case when excluded.last_step > ${t}.last_step then excluded.last_step else ${t}.last_step end,
  min_value = case when excluded.min_value < ${t}.min_value then excluded.min_value else ${t}.min_value end,
  max_value = case when excluded.max_value > ${t}.max_value then excluded.max_value else ${t}.max_value end,
  sum_value = ${t}.sum_value + excluded.sum_value`;

/** Folds a batch's blocks into the stored ones; call it in the transaction that inserts the points. */
export async function upsertBlocks(db: BookkeepingDb, runId: string, blocks: readonly Block[]): Promise<void> {
  for (let i = 0; i < blocks.length; i += ROWS_PER_STATEMENT) {
    const slice = blocks.slice(i, i + ROWS_PER_STATEMENT);
    const values = slice.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
    const params = slice.flatMap((b) => [
      runId,
      b.name,
      b.level,
      b.block,
      b.points,
      b.firstStep,
      b.lastStep,
      b.min,
      b.max,
      b.sum,
    ]);
    await rawQuery(db as unknown as Kysely<never>, `insert into ${t} (${COLUMNS}) values ${values} ${MERGE}`, params);
  }
}
