import type { ReadDb } from '../../meta/read-db.js';

interface LoggedEvent {
  index: number;
  action: string;
  time: string;
  entry: string;
}

/**
 * The successful log entries a dossier may cite, read once. A statement is backed by the entries
 * whose canonical JSON names its needles (a digest, a run id, a report digest…): the entry itself,
 * not a table row, is what an inclusion proof vouches for.
 */
export class EventIndex {
  private constructor(private readonly events: LoggedEvent[]) {}

  static async load(db: ReadDb, actions: readonly string[]): Promise<EventIndex> {
    const rows = await db
      .selectFrom('audit_events')
      .select(['idx', 'action', 'time', 'entry'])
      .where('outcome', '=', 'ok')
      .where('action', 'in', [...actions])
      .orderBy('idx')
      .execute();
    return new EventIndex(rows.map((r) => ({ index: Number(r.idx), action: r.action, time: r.time, entry: r.entry })));
  }

  /** Entries of these actions naming every needle, oldest first. */
  all(actions: readonly string[], needles: readonly string[]): LoggedEvent[] {
    return this.events.filter((e) => actions.includes(e.action) && needles.every((n) => e.entry.includes(n)));
  }

  first(actions: readonly string[], needles: readonly string[]): LoggedEvent | undefined {
    return this.all(actions, needles)[0];
  }

  /** The matching entry logged closest to `time` (alias moves are found by version, alias and time). */
  nearest(actions: readonly string[], needles: readonly string[], time: string): LoggedEvent | undefined {
    const t = Date.parse(time);
    let best: LoggedEvent | undefined;
    for (const e of this.all(actions, needles))
      if (!best || Math.abs(Date.parse(e.time) - t) < Math.abs(Date.parse(best.time) - t)) best = e;
    return best;
  }
}
