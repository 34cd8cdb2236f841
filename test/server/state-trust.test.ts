/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { addVersion } from '../../src/datasets/add.js';
import { newWorkspace, prng, writeTree } from '../../src/test-support/workspace.js';
import { startServer } from '../../src/server/start.js';
import { signedInLaptop, startTeam, type Team, storeObject } from './harness.js';

// A push writes a proposed meta/state.json; the server imports what verified logs vouch for and
// writes the store's state itself from its own rows (docs/SERVER.md "Store state"). These are the
// attacks a contributor can make with a proposal, and what the server does so that they hurt nobody.

const teams: Team[] = [];
afterEach(async () => {
  for (const t of teams.splice(0)) await t.close().catch(() => {});
});

async function team() {
  const t = await startTeam({
    store: `file://${mkdtempSync(join(tmpdir(), 'cairn-store-'))}`,
    roles: { admin: 'admin', alice: 'contributor', mallory: 'contributor', carol: 'viewer' },
  });
  teams.push(t);
  return t;
}

async function laptop(t: Team, user: string, files?: Record<string, string | Buffer>, name = 'images') {
  const dir = mkdtempSync(join(tmpdir(), `cairn-${user}-`));
  const ws = await newWorkspace(dir, { actor: `${user}@laptop` });
  if (files) {
    const src = mkdtempSync(join(tmpdir(), 'cairn-src-'));
    writeTree(src, files);
    await addVersion(ws, { source: src, name });
  }
  await ws.close();
  const { run } = await signedInLaptop(t, user, dir);
  return { run };
}

const raw = storeObject;

const hex = () => randomBytes(32).toString('hex');

/** A state naming `dataset` with one version, written with no history behind it. */
function squat(dataset: string) {
  const id = `ds-${hex().slice(0, 12)}`;
  return {
    format: 'cairn.remote-state/v1',
    datasets: [{ id, name: dataset, created_at: '2020-01-01T00:00:00.000Z', created_by: 'mallory' }],
    versions: [{ id: `v-${hex().slice(0, 12)}`, dataset_id: id, number: 1, digest: hex(), packs: [] as string[] }],
    tags: [{ dataset_id: id, tag: 'production', version_id: 'x', created_at: '2099-01-01T00:00:00.000Z' }],
    lineage: [],
    reports: [],
    documents: [],
    packs: [],
    audit: [],
  };
}

describe("a contributor writing the store's state by hand", () => {
  it('cannot squat a dataset name: nobody is shown it, and the real push of that name goes through', async () => {
    const t = await team();
    expect((await raw(t, 'mallory', 'PUT', 'meta/state.json', squat('images'))).status).toBe(200);
    // A proposal, not the state: nothing was imported, so the store has no state to show.
    const seen = await raw(t, 'carol', 'GET', 'meta/state.json');
    expect(seen.status).toBe(404);

    const alice = await laptop(t, 'alice', { 'a.bin': prng(1, 50_000) });
    const pushed: any = await alice.run((s) => s.transfer.push([], { remote: 'team' }));
    expect(pushed).toMatchObject({ versions: 1, server: { imported: { versions: 1 }, vouched: 1 } });
    // The squat is gone from the store's state; alice's dataset is what everyone pulls.
    const after = await raw(t, 'carol', 'GET', 'meta/state.json');
    expect(after.json.datasets.filter((d: any) => d.name === 'images')).toHaveLength(1);
    expect(after.json.tags).toEqual([]);
    const carol = await laptop(t, 'carol');
    const pulled: any = await carol.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(pulled.versions).toHaveLength(1);
    expect(JSON.stringify(await carol.run((s) => s.datasets.show('images@v1')))).toContain('a.bin');

    // Squatting again, now the name is vouched: the write conflicts and nothing changes.
    const again = await raw(t, 'mallory', 'PUT', 'meta/state.json', squat('images'));
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe('DIVERGED');
    const second = await laptop(t, 'carol');
    expect(((await second.run((s) => s.transfer.pull([], { remote: 'team' }))) as any).versions).toHaveLength(1);
  }, 180_000);

  it("cannot point another workspace's audit entry elsewhere or at a bogus size; the log still verifies for everyone", async () => {
    const t = await team();
    const alice = await laptop(t, 'alice', { 'a.bin': prng(2, 40_000) });
    await alice.run((s) => s.transfer.push([], { remote: 'team' }));
    const state = (await raw(t, 'carol', 'GET', 'meta/state.json')).json;
    // alice's entry (the other is the server's own log, which only the server moves).
    const entry = pushed(t, state).audit[0];
    expect(entry).toBeTruthy();

    for (const forged of [
      { ...entry, size: entry.size + 100 },
      { ...entry, size: entry.size + 1, key: 'audit/elsewhere/' },
      { workspace: `ws-${hex().slice(0, 8)}`, origin: entry.origin, size: 5, root: entry.root, key: entry.key },
    ]) {
      const res = await raw(t, 'mallory', 'PUT', 'meta/state.json', { ...state, audit: [forged] });
      expect(res.status, JSON.stringify(forged)).toBe(403);
      expect(res.json.error.code).toBe('PERMISSION_DENIED');
    }
    // A stale copy of alice's entry travels in everyone's merged state: harmless, accepted.
    expect((await raw(t, 'mallory', 'PUT', 'meta/state.json', state)).status).toBe(200);
    expect(pushed(t, (await raw(t, 'carol', 'GET', 'meta/state.json')).json).audit).toEqual([entry]);
    const carol = await laptop(t, 'carol');
    const pulled: any = await carol.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(pulled.versions).toHaveLength(1);
    // alice keeps pushing: her own entry moves on.
    const again: any = await alice.run((s) => s.transfer.push([], { remote: 'team' }));
    expect(again.versions).toBe(1);
    const now = (await raw(t, 'carol', 'GET', 'meta/state.json')).json.audit;
    expect(now.find((a: any) => a.workspace === entry.workspace).size).toBeGreaterThan(entry.size);
  }, 180_000);

  it('cannot get versions it did not upload, or sizes it made up, into the state by importing its proposal', async () => {
    const t = await team();
    const alice = await laptop(t, 'alice', { 'a.bin': prng(3, 40_000) });
    await alice.run((s) => s.transfer.push([], { remote: 'team' }));
    const before = (await raw(t, 'carol', 'GET', 'meta/state.json')).json;

    // A version with no history behind it, and then an import that names it.
    const fake = squat('mallorys');
    const put = await raw(t, 'mallory', 'PUT', 'meta/state.json', merge(before, fake));
    expect(put.status, JSON.stringify(put.json)).toBe(200);
    const res = await t.call('mallory', 'POST', '/api/v1/store/import', {
      versions: [`sha256:${fake.versions[0]!.digest}`],
    });
    expect(res.status).toBe(422);
    expect(res.json.error.code).toBe('NOT_VOUCHED');
    const after = (await raw(t, 'carol', 'GET', 'meta/state.json')).json;
    expect(pushed(t, after)).toEqual(pushed(t, before));

    // The same version under a pack that is not in the store: refused before anything is recorded.
    const packed = squat('packed');
    const ghost = hex();
    packed.versions[0]!.packs = [ghost];
    const withPack = { ...merge(before, packed), packs: [...before.packs, { id: ghost, size: 10 }] };
    expect((await raw(t, 'mallory', 'PUT', 'meta/state.json', withPack)).status).toBe(200);
    const missing = await t.call('mallory', 'POST', '/api/v1/store/import', { versions: [] });
    expect(missing.json.error.code).toBe('MISSING_OBJECT');

    // alice's version re-listed with other packs, other sizes, a moved tag and a made-up report.
    const v = before.versions[0];
    const dataset = before.datasets[0];
    const bent = {
      ...before,
      versions: [{ ...v, packs: [] }],
      packs: before.packs.map((p: any) => ({ ...p, size: p.size + 1 })),
      tags: [
        {
          dataset_id: dataset.id,
          tag: 'production',
          version_id: v.id,
          created_at: '2099-01-01T00:00:00.000Z',
          created_by: 'mallory',
        },
      ],
      reports: [
        {
          id: `r-${hex().slice(0, 8)}`,
          version_id: v.id,
          kind: 'profile',
          digest: hex(),
          created_at: '2099-01-01T00:00:00.000Z',
        },
      ],
    };
    expect((await raw(t, 'mallory', 'PUT', 'meta/state.json', bent)).status).toBe(200);
    const bentImport = await t.call('mallory', 'POST', '/api/v1/store/import', { versions: [] });
    // The pack sizes it claims are not the store's: nothing of it is imported.
    expect(bentImport.json.error.code).toBe('MISSING_OBJECT');
    expect((await raw(t, 'mallory', 'PUT', 'meta/state.json', { ...bent, packs: before.packs })).status).toBe(200);
    const ok = await t.call('mallory', 'POST', '/api/v1/store/import', { versions: [] });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect(pushed(t, (await raw(t, 'carol', 'GET', 'meta/state.json')).json)).toEqual(pushed(t, before));
    const carol = await laptop(t, 'carol');
    const pulled: any = await carol.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(pulled.versions).toHaveLength(1);
    expect(JSON.stringify(await carol.run((s) => s.datasets.show('images@v1')))).toContain('a.bin');
  }, 180_000);

  it('keeps a proposal in the store, unreadable to clients: an import after a server restart still finds it', async () => {
    const t = await team();
    const alice = await laptop(t, 'alice', { 'a.bin': prng(4, 30_000) });
    await alice.run((s) => s.transfer.push([], { remote: 'team' }));
    const state = (await raw(t, 'carol', 'GET', 'meta/state.json')).json;
    // The import used alice's proposal up.
    expect(await t.server.runtime.store!.list('proposals/')).toEqual([]);
    const later = squat('later');
    expect((await raw(t, 'mallory', 'PUT', 'meta/state.json', merge(state, later))).status).toBe(200);
    const [kept] = (await t.server.runtime.store!.list('proposals/')).map((o) => o.key);
    expect(kept).toMatch(/^proposals\/[0-9a-f]{64}\.json$/);
    const read = await raw(t, 'carol', 'GET', kept!);
    expect(read.status).toBe(403);
    expect(read.json.error.code).toBe('PERMISSION_DENIED');

    // A new server process on the same data dir and store: the proposal is still there to import
    // (and still refused: NOT_VOUCHED, not "the state does not list it").
    await t.server.close();
    const second = await startServer({ listen: '127.0.0.1:0', dataDir: t.dataDir, env: process.env });
    teams.push({ close: () => second.close() } as Team);
    const res = await fetch(`${second.url}/api/v1/store/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.tokens.mallory}`, 'content-type': 'application/json' },
      body: JSON.stringify({ versions: [`sha256:${later.versions[0]!.digest}`] }),
    });
    expect(((await res.json()) as any).error.code).toBe('NOT_VOUCHED');
    expect(await second.runtime.store!.list('proposals/')).toEqual([]);
    const after = await fetch(`${second.url}/api/v1/store/objects/meta/state.json`, {
      headers: { authorization: `Bearer ${t.tokens.carol}` },
    });
    expect(pushed(t, await after.json())).toEqual(pushed(t, state));
  }, 180_000);
});

/**
 * The state without the entry of the server's own log, which grows with every request (each read
 * is an event): what pushes made of the store's state.
 */
function pushed(t: Team, state: any) {
  return { ...state, audit: state.audit.filter((a: any) => a.workspace !== t.server.runtime.workspaceId) };
}

/** `state` with `extra`'s datasets, versions and tags added. */
function merge(state: any, extra: ReturnType<typeof squat>) {
  return {
    ...state,
    datasets: [...state.datasets, ...extra.datasets],
    versions: [...state.versions, ...extra.versions],
    tags: [...state.tags, ...extra.tags],
  };
}
