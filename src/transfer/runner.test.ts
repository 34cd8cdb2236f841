import { describe, expect, it } from 'vitest';
import { runTransfers, tokenBucket } from './runner.js';

describe('runTransfers', () => {
  it('runs at most `jobs` tasks at once and all of them', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    const tasks = Array.from({ length: 10 }, (_, i) => ({
      bytes: 1,
      run: async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        done.push(i);
      },
    }));
    await runTransfers(tasks, { jobs: 3 });
    expect(peak).toBe(3);
    expect(done.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('after a failure starts nothing new and rethrows it once the running tasks settle', async () => {
    const started: number[] = [];
    const tasks = Array.from({ length: 8 }, (_, i) => ({
      bytes: 1,
      run: async () => {
        started.push(i);
        await new Promise((r) => setTimeout(r, 2));
        if (i === 1) throw new Error('boom');
      },
    }));
    await expect(runTransfers(tasks, { jobs: 2 })).rejects.toThrow('boom');
    expect(started.length).toBeLessThanOrEqual(3);
  });

  it('the token bucket makes takers wait for the bytes they overdrew', async () => {
    let t = 0;
    const waits: number[] = [];
    const bucket = tokenBucket(
      1000,
      async (ms) => {
        waits.push(ms);
        t += ms;
      },
      () => t,
    );
    await bucket.take(1000); // the first second's allowance
    await bucket.take(500);
    await bucket.take(2000);
    expect(waits).toEqual([500, 2000]);
  });
});
