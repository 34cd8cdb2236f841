/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
// `data show` on the server of a version pushed to it: the version came as metadata only (its
// trees are in the store's packs, not in the server's workspace), and the answer was an error
// (`MISSING_OBJECT`: "tree … is not in the object store"). Now the server reads the version's tree
// nodes from the store (the listed packs' indexes and the nodes, in ranges, each re-hashed) and
// lists its files as a workspace does, without pulling the version's data into its workspace.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { addVersion } from '../../src/datasets/add.js';
import { newWorkspace, prng, writeTree } from '../../src/test-support/workspace.js';
import { signedInLaptop, startTeam, type Team } from './harness.js';

const teams: Team[] = [];
afterEach(async () => {
  for (const t of teams.splice(0)) await t.close().catch(() => {});
});

describe('data show on the server of a pushed version', () => {
  it('lists its files from the store, the same listing as the pushing workspace', async () => {
    const t = await startTeam({
      store: `file://${mkdtempSync(join(tmpdir(), 'cairn-store-'))}`,
      roles: { admin: 'admin', alice: 'contributor', carol: 'viewer' },
    });
    teams.push(t);
    const dir = mkdtempSync(join(tmpdir(), 'cairn-alice-'));
    const ws = await newWorkspace(dir, { actor: 'alice@laptop' });
    const src = mkdtempSync(join(tmpdir(), 'cairn-src-'));
    writeTree(src, { 'a.bin': prng(5, 70_000), 'sub/b.txt': 'bee\n', 'sub/deep/c.txt': 'sea\n' });
    await addVersion(ws, { source: src, name: 'images' });
    await ws.close();
    const alice = await signedInLaptop(t, 'alice', dir);
    const local: any = await alice.run((s) => s.datasets.show('images@v1'));
    await alice.run((s) => s.transfer.push([], { remote: 'team' }));

    const res = await fetch(`${t.server.url}/api/v1/versions/show?ref=images@v1`, {
      headers: { authorization: `Bearer ${t.tokens.carol}` },
    });
    const body: any = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.listing).toEqual(local.listing);
    expect(body.listing.map((f: any) => f.path)).toEqual(['a.bin', 'sub/b.txt', 'sub/deep/c.txt']);
    // A limit truncates as locally.
    const one: any = await (
      await fetch(`${t.server.url}/api/v1/versions/show?ref=images@v1&limit=1`, {
        headers: { authorization: `Bearer ${t.tokens.carol}` },
      })
    ).json();
    expect(one).toMatchObject({ truncated: true, listing: [local.listing[0]] });
  }, 120_000);
});
