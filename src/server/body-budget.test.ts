import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../test-support/prng.js';
import { BodyBudget } from './body-budget.js';

describe('BodyBudget', () => {
  it('over random histories: never more than the budget held, granted in arrival order, nothing lost', async () => {
    for (let seed = 1; seed <= 50; seed++) {
      const rnd = mulberry32(seed);
      const total = 1 + Math.floor(rnd() * 100);
      const budget = new BodyBudget(total);
      let held = 0;
      const granted: number[] = [];
      const live: Array<{ n: number; release: () => void }> = [];
      const pending: Array<Promise<void>> = [];
      for (let i = 0; i < 60; i++) {
        if (rnd() < 0.55 || live.length === 0) {
          const bytes = Math.floor(rnd() * total * 1.5);
          const n = Math.min(bytes, total);
          const id = i;
          pending.push(
            budget.take(bytes).then((release) => {
              held += n;
              expect(held, `seed ${seed}`).toBeLessThanOrEqual(total);
              granted.push(id);
              live.push({ n, release });
            }),
          );
        } else {
          const [r] = live.splice(Math.floor(rnd() * live.length), 1);
          held -= r!.n;
          r!.release();
          r!.release(); // twice is once
        }
        await new Promise((r) => setImmediate(r));
      }
      // Release everything: every waiter is granted in the end.
      while (granted.length < pending.length) {
        const r = live.shift();
        if (r) {
          held -= r.n;
          r.release();
        }
        await new Promise((res) => setImmediate(res));
      }
      await Promise.all(pending);
      expect(
        [...granted].sort((a, b) => a - b),
        `seed ${seed}: arrival order`,
      ).toEqual(granted);
    }
  });

  it("serves waiting bodies one account at a time: one account's queue does not hold another's body back", async () => {
    const budget = new BodyBudget(10);
    const order: string[] = [];
    const first = await budget.take(10, 'mallory');
    const waits = [
      budget.take(10, 'mallory').then((r) => (order.push('mallory 2'), r)),
      budget.take(10, 'mallory').then((r) => (order.push('mallory 3'), r)),
      budget.take(10, 'alice').then((r) => (order.push('alice'), r)),
    ];
    await new Promise((r) => setImmediate(r));
    first();
    await new Promise((r) => setImmediate(r));
    // Alice's came last, but mallory was served last: alice's goes before mallory's queue.
    expect(order).toEqual(['alice']);
    (await waits[2]!)();
    (await waits[0]!)();
    (await waits[1]!)();
    expect(order).toEqual(['alice', 'mallory 2', 'mallory 3']);
  });

  it('an account holding a body lets another account waiting behind it go first', async () => {
    const budget = new BodyBudget(10);
    const order: string[] = [];
    const a = await budget.take(5, 'mallory');
    const b = await budget.take(5, 'alice');
    const waits = [
      budget.take(5, 'mallory').then((r) => (order.push('mallory'), r)),
      budget.take(5, 'alice').then((r) => (order.push('alice'), r)),
    ];
    b();
    await new Promise((r) => setImmediate(r));
    // Mallory still holds one: alice's, though it came later, takes the freed share.
    expect(order).toEqual(['alice']);
    a();
    for (const w of waits) (await w)();
    expect(order).toEqual(['alice', 'mallory']);
  });

  it("holds at most an account's share once it holds a body; its bodies over the share block no one", async () => {
    const budget = new BodyBudget(10, { bytes: 5, waiting: 2 });
    const order: string[] = [];
    // A first body may take more than the share (here the whole budget would do too).
    const a1 = await budget.take(4, 'mallory');
    const a2 = budget.take(4, 'mallory').then((r) => (order.push('mallory 2'), r));
    const b = budget.take(6, 'alice').then((r) => (order.push('alice'), r));
    await new Promise((r) => setImmediate(r));
    // Mallory's second would hold 8 > 5: it waits and alice's, which came later, goes.
    expect(order).toEqual(['alice']);
    // Two of mallory's wait (the second and a third); a fourth is refused at once.
    const a3 = budget.take(1, 'mallory').then((r) => (order.push('mallory 3'), r));
    await expect(budget.take(1, 'mallory')).rejects.toMatchObject({
      code: 'UPLOADS_BUSY',
      data: { retryAfterSeconds: 5 },
    });
    a1();
    await new Promise((r) => setImmediate(r));
    // Her second goes once her first is answered; her third (4 + 1, within 5) once memory is free.
    expect(order).toEqual(['alice', 'mallory 2']);
    (await b)();
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['alice', 'mallory 2', 'mallory 3']);
    (await a2)();
    (await a3)();
  }, 5_000);

  it('over random histories with shares: no account past its share but by its first body, nothing lost', async () => {
    const overShare: string[] = [];
    for (let seed = 1; seed <= 30; seed++) {
      const rnd = mulberry32(seed);
      const total = 10 + Math.floor(rnd() * 50);
      const share = 1 + Math.floor(rnd() * total);
      const budget = new BodyBudget(total, { bytes: share });
      const held = new Map<string, number[]>();
      const live: Array<{ account: string; n: number; release: () => void }> = [];
      const pending: Array<Promise<void>> = [];
      let granted = 0;
      for (let i = 0; i < 60; i++) {
        if (rnd() < 0.55 || live.length === 0) {
          const account = ['a', 'b', 'c'][Math.floor(rnd() * 3)]!;
          const n = Math.min(total, Math.floor(rnd() * total));
          pending.push(
            budget.take(n, account).then((release) => {
              const mine = held.get(account) ?? [];
              if (mine.length > 0 && mine.reduce((x, y) => x + y, 0) + n > share) overShare.push(`seed ${seed}: ${i}`);
              held.set(account, [...mine, n]);
              granted++;
              live.push({ account, n, release });
            }),
          );
        } else {
          const [r] = live.splice(Math.floor(rnd() * live.length), 1);
          const mine = held.get(r!.account)!;
          mine.splice(mine.indexOf(r!.n), 1);
          r!.release();
        }
        await new Promise((r) => setImmediate(r));
      }
      while (granted < pending.length) {
        const r = live.shift();
        if (r) {
          const mine = held.get(r.account)!;
          mine.splice(mine.indexOf(r.n), 1);
          r.release();
        }
        await new Promise((res) => setImmediate(res));
      }
      await Promise.all(pending);
    }
    expect(overShare).toEqual([]);
  });
});
