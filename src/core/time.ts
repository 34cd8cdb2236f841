/** The clock is a port so tests and audit replays can pin time. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** UTC with millisecond precision, e.g. 2026-11-26T23:02:27.123Z; sorts lexicographically. */
export function isoUtc(d: Date): string {
  return d.toISOString();
}

/** Parses an absolute ISO time or a relative age such as `7d`, `12h`, `30m`. */
export function parseTimeBound(s: string, clock: Clock = systemClock): Date | null {
  const rel = /^(\d+)([smhdw])$/.exec(s.trim());
  if (rel) {
    const n = Number(rel[1]);
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[rel[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return new Date(clock.now().getTime() - n * unit);
  }
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}
