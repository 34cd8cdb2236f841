import { describe, expect, it } from 'vitest';
import { uuidv7 } from './ids.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function timestampOf(id: string): number {
  return parseInt(id.replace(/-/g, '').slice(0, 12), 16);
}

function counterOf(id: string): number {
  return parseInt(id.replace(/-/g, '').slice(13, 16), 16);
}

// The generator keeps per-process state (last ms, counter); each test uses a later time than
// the one before, far beyond the wall clock, so earlier tests never influence later ones.
describe('uuidv7', () => {
  it('has version 7, the RFC 9562 variant and the 48-bit millisecond timestamp', () => {
    const t = 0x0200_0000_0000;
    const id = uuidv7(t);
    expect(id).toMatch(UUID);
    expect(timestampOf(id)).toBe(t);
    const bytes = Buffer.from(id.replace(/-/g, ''), 'hex');
    expect(bytes[6]! >> 4).toBe(7);
    expect(bytes[8]! >> 6).toBe(0b10);
  });

  it('is strictly increasing within one millisecond, counting in rand_a', () => {
    const t = 0x0300_0000_0000;
    const ids = Array.from({ length: 1000 }, () => uuidv7(t));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!, `${ids[i - 1]} < ${ids[i]}`).toBe(true);
    expect(ids.every((id) => timestampOf(id) === t)).toBe(true);
    expect(ids.map(counterOf).slice(0, 4)).toEqual([0, 1, 2, 3]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('stays increasing when the clock steps back', () => {
    const t = 0x0400_0000_0000;
    const a = uuidv7(t);
    const b = uuidv7(t - 5000);
    expect(b > a).toBe(true);
    expect(timestampOf(b)).toBe(t);
  });

  it('borrows the next millisecond when the 12-bit counter runs out', () => {
    const t = 0x0500_0000_0000;
    const ids = Array.from({ length: 0x1000 + 2 }, () => uuidv7(t));
    expect(timestampOf(ids[0x0fff]!)).toBe(t);
    expect(counterOf(ids[0x0fff]!)).toBe(0xfff);
    expect(timestampOf(ids[0x1000]!)).toBe(t + 1);
    expect(counterOf(ids[0x1000]!)).toBe(0);
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    // A later real millisecond that the counter already borrowed still sorts after.
    const next = uuidv7(t + 1);
    expect(next > ids.at(-1)!).toBe(true);
  });

  it('restarts the counter in a new millisecond and uses the clock by default', () => {
    const t = 0x0600_0000_0000;
    uuidv7(t);
    uuidv7(t);
    const fresh = uuidv7(t + 10);
    expect(timestampOf(fresh)).toBe(t + 10);
    expect(counterOf(fresh)).toBe(0);
    // The default clock is now far behind the pinned times above, so the id keeps t + 10.
    expect(timestampOf(uuidv7())).toBe(t + 10);
  });
});
