import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../test-support/prng.js';
import { RateFloor } from './body-timeouts.js';
import { WriteStall } from './write-stall.js';

describe('RateFloor', () => {
  it('never refuses within the first window, and refuses a byte per idle bound after it', () => {
    const f = new RateFloor(1000, 30_000, 0);
    // A byte every 29 s: inside a 30 s idle bound, far under 1000 bytes/s.
    let bytes = 0;
    const verdicts: boolean[] = [];
    for (let at = 7_500; at <= 90_000; at += 7_500) {
      if (at % 29_000 < 7_500) bytes++;
      verdicts.push(f.tooSlow(at, bytes));
    }
    expect(verdicts.slice(0, 3)).toEqual([false, false, false]);
    expect(verdicts[3]).toBe(true);
  });

  it('over random senders: refuses exactly when the bytes of the last window (or more) are under the floor', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rnd = mulberry32(seed);
      const rate = 100 + Math.floor(rnd() * 1000);
      const window = 400;
      const f = new RateFloor(rate, window, 0);
      const seen: Array<{ at: number; bytes: number }> = [{ at: 0, bytes: 0 }];
      let bytes = 0;
      for (let at = window / 4; at <= 20 * window; at += window / 4) {
        bytes += Math.floor(rnd() * rate * (window / 4 / 1000) * 2.2 * (rnd() < 0.2 ? 0 : 1));
        const slow = f.tooSlow(at, bytes);
        seen.push({ at, bytes });
        const base = [...seen].reverse().find((s) => s.at <= at - window);
        const expected = base !== undefined && (bytes - base.bytes) * 1000 < rate * (at - base.at);
        expect(slow, `seed ${seed} at ${at}`).toBe(expected);
      }
    }
  });

  it('a floor of 0 never refuses', () => {
    const f = new RateFloor(0, 100, 0);
    expect([100, 200, 1000].map((at) => f.tooSlow(at, 0))).toEqual([false, false, false]);
  });
});

describe('WriteStall', () => {
  it('counts only time with bytes pending and no progress', () => {
    const w = new WriteStall(300);
    expect(w.stalled(0, false, 'a')).toBe(false);
    // Nothing pending for ever (an idle keep-alive, a handler computing): never stalled.
    expect(w.stalled(10_000, false, 'a')).toBe(false);
    expect(w.stalled(10_100, true, 'b')).toBe(false);
    expect(w.stalled(10_300, true, 'b')).toBe(false);
    // Progress restarts the clock.
    expect(w.stalled(10_350, true, 'c')).toBe(false);
    expect(w.stalled(10_600, true, 'c')).toBe(false);
    expect(w.stalled(10_650, true, 'c')).toBe(true);
  });
});
