/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { withServices } from '../../src/app/services.js';
import { addVersion } from '../../src/datasets/add.js';
import { newWorkspace, prng, writeTree } from '../../src/test-support/workspace.js';
import { startTeam, type Team } from './harness.js';

// The store's meta/state.json is written by clients (a push merges its state into it): these are
// the attacks a contributor can make with it, and what the server does so that they hurt nobody.

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
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CAIRN_CONFIG_DIR: join(dir, '.config'),
    CAIRN_SERVER: '',
    CAIRN_WORKSPACE: '',
    CAIRN_ACTOR: `${user}@laptop`,
    CAIRN_TOKEN: t.tokens[user],
    CAIRN_SERVER_KEY: t.server.runtime.verifierKey,
  };
  const run = <T>(fn: (s: any) => Promise<T>) => withServices({ cwd: dir, env }, fn);
  await run((s) => s.transfer.addRemote('team', t.server.url, {}));
  return { run };
}

async function raw(t: Team, who: string, method: 'GET' | 'PUT', key: string, body?: unknown) {
  const res = await fetch(`${t.server.url}/api/v1/store/objects/${key}`, {
    method,
    headers: {
      authorization: `Bearer ${t.tokens[who]}`,
      ...(body ? { 'content-type': 'application/octet-stream' } : {}),
    },
    ...(body ? { body: Buffer.from(JSON.stringify(body)) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as any) : null };
}

const hex = () => randomBytes(32).toString('hex');

/** A state naming `dataset` with one version, written with no history behind it. */
function squat(dataset: string) {
  const id = `ds-${hex().slice(0, 12)}`;
  return {
    format: 'cairn.remote-state/v1',
    datasets: [{ id, name: dataset, created_at: '2020-01-01T00:00:00.000Z', created_by: 'mallory' }],
    versions: [{ id: `v-${hex().slice(0, 12)}`, dataset_id: id, number: 1, digest: hex(), packs: [] }],
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
    // No verified log vouches for it: readers are not shown it, so no client plans against it.
    const seen = await raw(t, 'carol', 'GET', 'meta/state.json');
    expect(seen.json.datasets.map((d: any) => d.name)).not.toContain('images');

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
    const entry = state.audit[0];
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
    expect((await raw(t, 'carol', 'GET', 'meta/state.json')).json.audit).toEqual([entry]);
    const carol = await laptop(t, 'carol');
    const pulled: any = await carol.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(pulled.versions).toHaveLength(1);
    // alice keeps pushing: her own entry moves on.
    const again: any = await alice.run((s) => s.transfer.push([], { remote: 'team' }));
    expect(again.versions).toBe(1);
    const now = (await raw(t, 'carol', 'GET', 'meta/state.json')).json.audit;
    expect(now.find((a: any) => a.workspace === entry.workspace).size).toBeGreaterThan(entry.size);
  }, 180_000);
});
