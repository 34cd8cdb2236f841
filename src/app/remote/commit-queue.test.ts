import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../test-support/prng.js';
import { CommitQueue } from './commit-queue.js';

/** A commit endpoint the test answers by hand: each request waits until it is told ok or failed. */
function endpoint() {
  const sent: Array<{ ids: string[]; answer: (ok: boolean) => void; done: boolean }> = [];
  let inFlight = 0;
  let most = 0;
  const send = (ids: string[]) =>
    new Promise<void>((resolve, reject) => {
      inFlight++;
      most = Math.max(most, inFlight);
      const req = {
        ids,
        done: false,
        answer: (ok: boolean) => {
          req.done = true;
          inFlight--;
          if (ok) resolve();
          else reject(new Error(`commit of ${ids.join(',')} refused`));
        },
      };
      sent.push(req);
    });
  return { sent, send, most: () => most };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

/** Seeded (mulberry32): a failing history is reproduced by its seed. A number in [0, n). */
function rng(seed: number) {
  const next = mulberry32(seed);
  return (n: number) => next() * n;
}

type Step = 'add' | { answer: number; ok: boolean };

/** A random history: packs uploaded (add) and answers to commits in flight, in some order. */
function history(seed: number): { steps: Step[]; concurrency: number; batch: number } {
  const r = rng(seed);
  const steps: Step[] = Array.from({ length: Math.floor(r(60)) }, () =>
    r(2) < 1 ? 'add' : { answer: Math.floor(r(20)), ok: r(4) >= 1 },
  );
  return { steps, concurrency: 1 + Math.floor(r(4)), batch: 1 + Math.floor(r(5)) };
}

async function replay(seed: number) {
  const { steps, concurrency, batch } = history(seed);
  const e = endpoint();
  const q = new CommitQueue(e.send, { concurrency, batch });
  let n = 0;
  let firstFailure: string | null = null;
  const answer = (i: number, ok: boolean) => {
    const open = e.sent.filter((r) => !r.done);
    const r = open[i % Math.max(1, open.length)];
    if (!r) return;
    if (!ok) firstFailure ??= r.ids.join(',');
    r.answer(ok);
  };
  for (const s of steps) {
    if (s === 'add') {
      // What ServerStoreBackend.put does: check before sending a pack, add once it is up.
      let refused = false;
      try {
        q.check();
      } catch {
        refused = true;
      }
      expect(refused).toBe(firstFailure !== null);
      if (!refused) q.add(`u${n++}`);
    } else answer(s.answer, s.ok);
    await tick();
  }
  // settled answers only once every request sent has its answer.
  let settled: 'no' | 'ok' | 'failed' = 'no';
  const waiting = q.settled().then(
    () => (settled = 'ok'),
    () => (settled = 'failed'),
  );
  await tick();
  while (e.sent.some((r) => !r.done)) {
    expect(settled).toBe('no');
    answer(0, true);
    await tick();
  }
  await waiting;
  expect(settled).toBe(firstFailure === null ? 'ok' : 'failed');
  const ids = e.sent.flatMap((r) => r.ids);
  expect(new Set(ids).size).toBe(ids.length); // no upload committed twice
  expect(e.most()).toBeLessThanOrEqual(concurrency);
  for (const r of e.sent) expect(r.ids.length).toBeLessThanOrEqual(batch);
  if (firstFailure === null) expect([...ids].sort()).toEqual(Array.from({ length: n }, (_, i) => `u${i}`).sort());
  else await expect(q.settled()).rejects.toThrow(`commit of ${firstFailure} refused`);
}

describe('CommitQueue (commits sent while later packs upload)', () => {
  it('over random histories: settled waits for every commit, each upload is committed once, and the first failure sticks', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      try {
        await replay(seed);
      } catch (err) {
        throw new Error(`history seed ${seed}: ${(err as Error).message}`);
      }
    }
  });

  it('after a failure, uploads queued or added later are never sent', async () => {
    const e = endpoint();
    const q = new CommitQueue(e.send, { concurrency: 1 });
    q.add('a');
    q.add('b'); // queued behind a
    await tick();
    e.sent[0]!.answer(false);
    await tick();
    q.add('c');
    await expect(q.settled()).rejects.toThrow('commit of a refused');
    expect(e.sent.map((r) => r.ids)).toEqual([['a']]);
    expect(() => q.check()).toThrow('commit of a refused');
  });
});
