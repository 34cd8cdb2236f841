import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTeam, type Team } from '../server/harness.js';

/**
 * The server's own log is exported whole, into memory, at every read of `meta/state.json` and of
 * `audit/<server workspace>/files.json` (store-own-log.ts). Nothing bounded how many exports ran
 * at once: a viewer sending reads in parallel made the server hold that many copies of the whole
 * log (entries, proofs and all) — on a log of 2,000 events, one read 8 MiB above the base, 24 in
 * parallel 104 MiB; on a long log, enough to end the process. Exports are now shared: while one
 * runs, every later caller waits for the single one after it.
 */
let t: Team;
beforeAll(async () => {
  t = await startTeam();
  // A log of about a thousand events: every request is one.
  for (let i = 0; i < 20; i++)
    await Promise.all(Array.from({ length: 50 }, () => t.call('carol', 'GET', '/api/v1/datasets')));
}, 300_000);
afterAll(async () => {
  await t?.close();
});

const MiB = 1024 * 1024;

async function filesJson(): Promise<number> {
  const ws = t.server.runtime.workspaceId;
  const r = await fetch(`${t.server.url}/api/v1/store/objects/audit/${ws}/files.json`, {
    headers: { authorization: `Bearer ${t.tokens.carol}` },
  });
  await r.arrayBuffer();
  return r.status;
}

/** The peak of the process's heap and buffers while `fn` runs, above what it was before (MiB). */
async function peakWhile(fn: () => Promise<unknown>): Promise<number> {
  global.gc?.();
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const base = used();
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, used())), 5);
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  return (Math.max(peak, used()) - base) / MiB;
}

describe("a viewer's parallel reads of the server's own log", () => {
  it('share their exports: 24 parallel reads do not hold 24 copies of the log', async () => {
    expect(await filesJson()).toBe(200);
    const one = await peakWhile(filesJson);
    let statuses: number[] = [];
    const many = await peakWhile(async () => (statuses = await Promise.all(Array.from({ length: 24 }, filesJson))));
    expect(statuses.every((s) => s === 200)).toBe(true);
    // Two exports at most at once (one running, the next shared by everyone waiting), and garbage.
    expect(many, `MiB held: one read ${one.toFixed(1)}, 24 parallel reads ${many.toFixed(1)}`).toBeLessThan(5 * one);
  }, 300_000);
});
