import { describe, expect, it } from 'vitest';
import { isoUtc, parseTimeBound, type Clock } from './time.js';

const clock: Clock = { now: () => new Date('2026-03-10T12:00:00.000Z') };

describe('time', () => {
  it('writes UTC with milliseconds, which sorts as text', () => {
    expect(isoUtc(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)))).toBe('2026-01-02T03:04:05.006Z');
    expect(isoUtc(new Date(0)) < isoUtc(new Date(1))).toBe(true);
  });

  it('parses relative ages against the given clock', () => {
    expect(parseTimeBound('30s', clock)?.toISOString()).toBe('2026-03-10T11:59:30.000Z');
    expect(parseTimeBound('15m', clock)?.toISOString()).toBe('2026-03-10T11:45:00.000Z');
    expect(parseTimeBound('12h', clock)?.toISOString()).toBe('2026-03-10T00:00:00.000Z');
    expect(parseTimeBound(' 7d ', clock)?.toISOString()).toBe('2026-03-03T12:00:00.000Z');
    expect(parseTimeBound('2w', clock)?.toISOString()).toBe('2026-02-24T12:00:00.000Z');
  });

  it('parses absolute times and returns null for nonsense', () => {
    expect(parseTimeBound('2026-01-01T00:00:00Z', clock)?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(parseTimeBound('yesterday', clock)).toBeNull();
    expect(parseTimeBound('7y', clock)).toBeNull();
  });
});
