/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
// A push proposes each new version's pack list; the server kept it as the pusher's claim ("a wrong
// list only hurts the pusher's version"). But the store's state is what every teammate pulls: a
// contributor listing a vouched version with packs that miss its objects, or name another account's
// pack that holds none of them, made the server list it (and, with pulls now checking lists, broke
// every teammate's whole pull). Now the import walks each new version's tree in the store and
// refuses the push (422 PACK_LIST_MISMATCH) with nothing of it recorded or listed.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { addVersion } from '../../src/datasets/add.js';
import { treeLoader } from '../../src/datasets/index.js';
import { localState } from '../../src/transfer/state-db.js';
import { mulberry32 } from '../../src/test-support/prng.js';
import { newWorkspace, prng, reopen, writeTree } from '../../src/test-support/workspace.js';
import { signedInLaptop, startTeam, type Team } from '../server/harness.js';

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

async function api(t: Team, who: string, method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown) {
  const res = await fetch(`${t.server.url}/api/v1/${path}`, {
    method,
    headers: {
      authorization: `Bearer ${t.tokens[who]}`,
      ...(body ? { 'content-type': method === 'PUT' ? 'application/octet-stream' : 'application/json' } : {}),
    },
    ...(body ? { body: Buffer.from(JSON.stringify(body)) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as any) : null };
}

/**
 * alice pushes `images`; mallory adds `notes` and `copy` (the same files: copy@v1 has notes@v1's
 * digest and needs exactly its packs) and pushes notes only, so the server holds her log (which
 * vouches for copy@v1) and notes' packs, but does not list copy yet.
 */
async function scene(t: Team) {
  const laptop = async (user: string) => {
    const dir = mkdtempSync(join(tmpdir(), `cairn-${user}-`));
    const ws = await newWorkspace(dir, { actor: `${user}@laptop` });
    return { dir, ws };
  };
  const a = await laptop('alice');
  const srcA = mkdtempSync(join(tmpdir(), 'cairn-src-'));
  writeTree(srcA, { 'a.bin': prng(11, 40_000) });
  await addVersion(a.ws, { source: srcA, name: 'images' });
  await a.ws.close();
  const alice = await signedInLaptop(t, 'alice', a.dir);
  await alice.run((s) => s.transfer.push([], { remote: 'team' }));

  const m = await laptop('mallory');
  const srcM = mkdtempSync(join(tmpdir(), 'cairn-src-'));
  writeTree(srcM, { 'n1.bin': prng(21, 30_000), 'd/n2.txt': 'notes\n' });
  await addVersion(m.ws, { source: srcM, name: 'notes' });
  await addVersion(m.ws, { source: srcM, name: 'copy' });
  await m.ws.close();
  const mallory = await signedInLaptop(t, 'mallory', m.dir);
  await mallory.run((s) => s.transfer.push(['notes@v1'], { remote: 'team' }));
  const ws = await reopen(m.dir, 'mallory@laptop');
  const own = await localState(ws.meta.db, null, treeLoader(ws));
  await ws.close();
  const copyDs = own.datasets.find((d) => d.name === 'copy')!;
  const copy = own.versions.find((v) => v.dataset_id === copyDs.id)!;
  const server = (await api(t, 'mallory', 'GET', 'store/objects/meta/state.json')).json;
  const alicePack = server.versions.find((v: any) => v.number === 1 && v.packs.length && v.id !== copy.id).packs[0];
  return { copyDs, copy, server, alicePack, own };
}

/** mallory proposes copy@v1 with `packs` and asks the server to import it. */
async function propose(t: Team, s: Awaited<ReturnType<typeof scene>>, packs: string[]) {
  const state = {
    ...s.server,
    datasets: [...s.server.datasets, s.copyDs],
    versions: [...s.server.versions, { ...s.copy, packs }],
  };
  expect((await api(t, 'mallory', 'PUT', 'store/objects/meta/state.json', state)).status).toBe(200);
  return api(t, 'mallory', 'POST', 'store/import', { versions: [`sha256:${s.copy.digest}`] });
}

const listed = async (t: Team, id: string) =>
  ((await api(t, 'carol', 'GET', 'store/objects/meta/state.json')).json.versions as any[]).some((v) => v.id === id);

describe('attack: a push whose version pack list does not match its tree', () => {
  it('is refused at import, listed for nobody; the honest list then imports; teammates pull whole', async () => {
    const t = await team();
    const s = await scene(t);
    expect(s.alicePack).toBeTruthy();
    expect(s.copy.packs.length).toBeGreaterThan(0);
    const rnd = mulberry32(7);
    // Every kind of edit of the one field: drop a pack, add another account's, swap for it.
    const drop = Math.floor(rnd() * s.copy.packs.length);
    const forged = [
      [...s.copy.packs.filter((_, i) => i !== drop), s.alicePack],
      [...s.copy.packs, s.alicePack],
      [s.alicePack],
    ];
    for (const packs of forged) {
      const res = await propose(t, s, packs);
      expect(res.status, JSON.stringify(packs)).toBe(422);
      expect(res.json.error.code).toBe('PACK_LIST_MISMATCH');
      expect(await listed(t, s.copy.id)).toBe(false);
    }
    // An empty list is an erasure claim: refused unless the pushed log vouches for an erasure.
    const empty = await propose(t, s, []);
    expect(empty.status).toBe(422);
    expect(empty.json.error.code).toBe('NOT_VOUCHED');
    expect(await listed(t, s.copy.id)).toBe(false);
    // Nothing of it recorded: the server has no copy dataset.
    expect((await api(t, 'carol', 'GET', 'datasets')).json.datasets?.map((d: any) => d.name) ?? []).not.toContain(
      'copy',
    );
    // The honest list goes through.
    const ok = await propose(t, s, s.copy.packs);
    expect(ok.status).toBe(200);
    expect(await listed(t, s.copy.id)).toBe(true);
    // A teammate pulls everything, whole.
    const dir = mkdtempSync(join(tmpdir(), 'cairn-carol-'));
    await (await newWorkspace(dir, { actor: 'carol@laptop' })).close();
    const carol = await signedInLaptop(t, 'carol', dir);
    const pulled: any = await carol.run((x) => x.transfer.pull([], { remote: 'team' }));
    expect(pulled.versions).toHaveLength(3);
  }, 180_000);
});
