import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTeam, type Team } from '../server/harness.js';

/**
 * The server's own log is exported whole, into memory, at every read of `meta/state.json` and of
 * `audit/<server workspace>/files.json` (store-own-log.ts). Nothing bounded how many exports ran
 * at once: a viewer sending reads in parallel made the server hold that many copies of the whole
 * log (entries, proofs and all) — on a log of 2,000 events, one read 8 MiB above the base, 24 in
 * parallel 104 MiB; on a long log, enough to end the process. Exports are now shared: one export
 * in the store serves every reader, streamed a part at a time (own-log-exports.ts).
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

async function get(file: string): Promise<{ status: number; bytes: number; text: string }> {
  const ws = t.server.runtime.workspaceId;
  const r = await fetch(`${t.server.url}/api/v1/store/objects/audit/${ws}/${file}`, {
    headers: { authorization: `Bearer ${t.tokens.carol}` },
  });
  const body = Buffer.from(await r.arrayBuffer());
  return { status: r.status, bytes: body.length, text: body.toString('utf8') };
}

async function filesJson(): Promise<number> {
  return (await get('files.json')).status;
}

/** The bytes of one whole copy of the log as the store serves it (every file of the bundle). */
async function bundleBytes(): Promise<number> {
  const list = JSON.parse((await get('files.json')).text) as string[];
  let total = 0;
  for (const f of list) total += (await get(f)).bytes;
  return total;
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
    // Bound by copies of the log, not by one read: a read that serves an export already made
    // holds little, and the 24 requests' own bookkeeping (a few MiB) is not a copy of the log.
    const copy = (await bundleBytes()) / MiB;
    expect(
      many,
      `MiB held: one read ${one.toFixed(1)}, 24 parallel reads ${many.toFixed(1)}, one copy of the log ${copy.toFixed(1)}`,
    ).toBeLessThan(Math.max(5 * one, 8 * copy));
  }, 300_000);
});
