/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
// A version pushed to a team server arrives as metadata: its trees and packs stay in the store
// until a server run or `model verify` pulls them into the server's workspace. The server's gc
// (which an erasure runs) walks every version's trees to learn what is live: one whose trees are
// only in the store is not damage, and must neither stop gc nor let it delete what it keeps.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng, writeTree } from '../../src/test-support/workspace.js';
import { newLaptop, startTeam, type Team } from '../server/harness.js';

let t: Team;
beforeAll(async () => {
  t = await startTeam();
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const laptop = (user: string) => newLaptop(t, user, 'cairn-att-gc');

describe('attack: gc on a team server that holds pushed model versions', () => {
  it('an erasure (gc) goes through while a pushed version is still only in the store, and the pushed version stays whole', async () => {
    // A version of the server's own (trained there), and a model version bob pushed from his laptop.
    await t.trainAs('alice', 'churn');
    const bob = await laptop('bob');
    const src = mkdtempSync(join(tmpdir(), 'cairn-att-gc-model-'));
    writeTree(src, { 'model.onnx': prng(11, 50_000) });
    await bob.run((s) => s.models.register({ name: 'spam', path: src }));
    const pushed: any = await bob.run((s) => s.transfer.push([], { remote: 'team' }));
    expect(pushed.models).toEqual(['spam@v1']);

    const audit = await t.call('admin', 'POST', '/api/v1/audit/verify', { deep: true, artifacts: true });
    expect(audit.json.ok, JSON.stringify(audit.json.problems ?? audit.json).slice(0, 1500)).toBe(true);
    const erased = await t.call('admin', 'POST', '/api/v1/compliance/erasures', {
      ref: 'churn-data@v1',
      reason: 'Art. 17 #7',
    });
    expect(erased.status, JSON.stringify(erased.json)).toBe(200);
    expect(erased.json.gc.bytesFreed).toBeGreaterThan(0);

    // The pushed model version is still whole: the server pulls its files and re-hashes them.
    const verified = await t.call('dana', 'POST', '/api/v1/model-versions/verify', { ref: 'spam@v1' });
    expect(verified.json, JSON.stringify(verified.json)).toMatchObject({ ok: true, problems: [] });
    // And once its trees are in the server's workspace, a gc keeps them (they are a root).
    const again = await t.call('admin', 'POST', '/api/v1/compliance/erasures', {
      ref: 'churn-data@v1',
      reason: 'Art. 17 #7',
    });
    expect(again.status, JSON.stringify(again.json)).toBe(200);
    const still = await t.call('dana', 'POST', '/api/v1/model-versions/verify', { ref: 'spam@v1' });
    expect(still.json).toMatchObject({ ok: true, problems: [] });
  }, 180_000);
});
