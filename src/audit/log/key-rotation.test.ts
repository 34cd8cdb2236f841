import { spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  NEXT_PRIVATE_KEY_FILE,
  PRIVATE_KEY_FILE,
  PUBLIC_KEY_FILE,
  RETIRED_KEYS_FILE,
  rotateAuditKey,
} from '../../app/keys.js';
import type { Workspace } from '../../app/workspace.js';
import { isCairnError } from '../../core/errors.js';
import { cli } from '../../test-support/cli.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace, prng, reopen } from '../../test-support/workspace.js';
import { exportBundle, verifyBundle } from '../export/bundle.js';
import {
  formatVerifierKey,
  generateSigningKeyPair,
  openCheckpoint,
  parseVerifierKey,
  privateKeyFromPem,
  privateKeyToPem,
  publicKeyFromRaw,
  rawPublicKey,
  signCheckpoint,
  type NoteSigner,
} from '../note/index.js';
import { verifyWorkspaceLog } from '../service/audit-service.js';
import { offlineAudit } from '../index.js';
import { signKeyTransition } from './key-transition.js';

const verify = (ws: Workspace) => verifyWorkspaceLog(ws, { state: false });

async function append(ws: Workspace, n: number, tag = 'x'): Promise<void> {
  for (let i = 0; i < n; i++)
    await ws.audit.record({ action: 'dataset.tag', target: { type: 'dataset', name: tag, version: i + 1 } }, 'ok');
}

function fileSigner(ws: Workspace, pem: string): NoteSigner {
  const privateKey = privateKeyFromPem(pem);
  const origin = ws.audit.keys.origin;
  return { name: origin, privateKey, rawPublicKey: rawPublicKey(createPublicKey(privateKey)) };
}

/** A checkpoint row written straight into the database, as whoever holds `signer` and the database could. */
async function forgeCheckpoint(ws: Workspace, signer: NoteSigner): Promise<number> {
  const size = await ws.audit.size();
  const root = await ws.audit.rootAt(size);
  const note = signCheckpoint({ origin: ws.audit.keys.origin, size, rootHash: root }, signer);
  await ws.meta.db
    .insertInto('audit_checkpoints')
    .values({ size, root: root.toString('hex'), note, created_at: new Date().toISOString() })
    .execute();
  return size;
}

describe('audit key rotation', () => {
  const tmp = useTempDirs();

  it('hands the log over: the transition is signed by the old key, later checkpoints by the new one, and verify follows', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    await append(ws, 3);
    const oldVkey = formatVerifierKey(ws.audit.keys.origin, ws.audit.keys.rawPublicKey);
    const oldPrivate = readFileSync(join(ws.cairnDir, PRIVATE_KEY_FILE), 'utf8');
    const r = await rotateAuditKey(ws.cairnDir, ws.audit, {});
    expect(r).toMatchObject({ from: oldVkey, custody: 'file', resumed: false });
    expect(r.to).not.toBe(oldVkey);
    // The retired private key is gone; its public half is kept so its notes still open.
    expect(readFileSync(join(ws.cairnDir, PRIVATE_KEY_FILE), 'utf8')).not.toBe(oldPrivate);
    expect(readFileSync(join(ws.cairnDir, RETIRED_KEYS_FILE), 'utf8')).toBe(`${oldVkey}\n`);
    expect(existsSync(join(ws.cairnDir, NEXT_PRIVATE_KEY_FILE))).toBe(false);
    const newKey = parseVerifierKey(r.to);
    const oldKey = parseVerifierKey(oldVkey);
    // The checkpoint covering the transition carries both signatures.
    expect(openCheckpoint(r.checkpoint.note, [newKey]).verified).toHaveLength(1);
    expect(openCheckpoint(r.checkpoint.note, [oldKey]).verified).toHaveLength(1);
    await append(ws, 2);
    const cp = (await ws.audit.checkpoint())!;
    expect(() => openCheckpoint(cp.note, [oldKey])).toThrow();
    expect(openCheckpoint(cp.note, [newKey]).checkpoint.size).toBe(cp.size);
    const report = await verify(ws);
    expect(report.problems).toEqual([]);
    expect(report.keys).toEqual([
      { vkey: oldVkey, from: 0 },
      { vkey: r.to, from: r.index + 1 },
    ]);
    await ws.close();
    // Another process opens the rotated workspace: it signs with the new key, the kept checkpoint still opens.
    const again = await reopen(dir);
    expect(formatVerifierKey(again.audit.keys.origin, again.audit.keys.rawPublicKey)).toBe(r.to);
    await append(again, 1);
    await again.audit.checkpoint();
    expect((await verify(again)).ok).toBe(true);
    // An export follows the chain, with its own key and with either key pinned.
    const out = join(tmp(), 'export');
    await exportBundle(again.meta.db, again.audit, out);
    expect((await verifyBundle(out)).problems).toEqual([]);
    expect((await verifyBundle(out, oldKey)).problems).toEqual([]);
    expect((await verifyBundle(out, newKey)).problems).toEqual([]);
    const stranger = generateSigningKeyPair();
    const strangerKey = parseVerifierKey(formatVerifierKey(again.audit.keys.origin, rawPublicKey(stranger.publicKey)));
    const refused = await verifyBundle(out, strangerKey);
    expect(refused.ok).toBe(false);
    expect(refused.problems.map((p) => p.kind)).toContain('bundle-key');
    // The standard-tools path (sh, openssl, python3) follows the same chain.
    const sh = spawnSync('sh', [join(out, 'verify.sh')], { encoding: 'utf8' });
    expect(sh.stdout + sh.stderr).toContain('1 key transition(s) signed by both keys');
    expect(sh.status, sh.stdout + sh.stderr).toBe(0);
    // A bundle whose key files are swapped (the retired key claimed for later checkpoints) fails there too.
    const keyFiles = readdirSync(join(out, 'keys')).sort();
    expect(keyFiles).toHaveLength(2);
    const first = readFileSync(join(out, 'keys', keyFiles[0]!), 'utf8');
    writeFileSync(join(out, 'keys', keyFiles[1]!), first);
    const swapped = spawnSync('sh', [join(out, 'verify.sh')], { encoding: 'utf8' });
    expect(swapped.status).not.toBe(0);
    expect(swapped.stdout).toMatch(/^FAIL: entry \d+ hands over between other keys/m);
    await again.close();
  });

  it('through the CLI: audit keys rotate, then audit verify follows; bad option combinations are usage errors', () => {
    const root = tmp();
    expect(cli(['init'], { cwd: root }).code).toBe(0);
    const r = cli(['audit', 'keys', 'rotate', '--json'], { cwd: root });
    expect(r.code, r.stderr).toBe(0);
    const out = r.json as { from: string; to: string; custody: string; checkpoint: { note: string } };
    expect(out.custody).toBe('file');
    expect(out.from).not.toBe(out.to);
    const v = cli(['audit', 'verify', '--json'], { cwd: root });
    expect(v.code, v.stderr).toBe(0);
    expect((v.json as { keys: Array<{ vkey: string }> }).keys.map((k) => k.vkey)).toEqual([out.from, out.to]);
    const bad = cli(['audit', 'keys', 'rotate', '--key-label', 'x'], { cwd: root });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--pkcs11');
  });

  it("a checkpoint the log verified once is not taken on its word after the log's key changed", async () => {
    const ws = await newWorkspace(tmp());
    await append(ws, 2);
    const cp = (await ws.audit.checkpoint())!;
    // Verified, then answered again (kept with the key that verified it).
    expect(ws.audit.openOwnCheckpoint(cp.note).checkpoint.size).toBe(cp.size);
    expect(ws.audit.openOwnCheckpoint(cp.note).checkpoint.size).toBe(cp.size);
    const forged = signCheckpoint(
      { origin: ws.audit.keys.origin, size: 1, rootHash: await ws.audit.rootAt(1) },
      fileSigner(ws, privateKeyToPem(generateSigningKeyPair().privateKey)),
    );
    expect(() => ws.audit.openOwnCheckpoint(forged)).toThrow();
    await rotateAuditKey(ws.cairnDir, ws.audit, {});
    // Signed by the retired key alone: no longer this log's own key.
    expect(() => ws.audit.openOwnCheckpoint(cp.note)).toThrow();
    await ws.close();
  });

  it('refuses a checkpoint signed by the retired key after the transition', async () => {
    const ws = await newWorkspace(tmp());
    await append(ws, 2);
    const retired = fileSigner(ws, readFileSync(join(ws.cairnDir, PRIVATE_KEY_FILE), 'utf8'));
    await rotateAuditKey(ws.cairnDir, ws.audit, {});
    await append(ws, 2);
    const size = await forgeCheckpoint(ws, retired);
    const report = await verify(ws);
    expect(report.ok).toBe(false);
    const bad = report.problems.find((p) => p.kind === 'checkpoint-signature');
    expect(bad?.message).toContain(`size ${size} is signed by the retired key`);
    await ws.close();
  });

  it('refuses a transition not signed by the then-current key, and the key it names', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    await append(ws, 2);
    await ws.audit.checkpoint();
    // Someone with the database and the key folder, but not the old private key, brings their own pair.
    const origin = ws.audit.keys.origin;
    const fake = generateSigningKeyPair();
    const evil = generateSigningKeyPair();
    const fakeSigner: NoteSigner = {
      name: origin,
      privateKey: fake.privateKey,
      rawPublicKey: rawPublicKey(fake.publicKey),
    };
    const evilSigner: NoteSigner = {
      name: origin,
      privateKey: evil.privateKey,
      rawPublicKey: rawPublicKey(evil.publicKey),
    };
    const current = formatVerifierKey(origin, ws.audit.keys.rawPublicKey);
    const to = formatVerifierKey(origin, evilSigner.rawPublicKey);
    // Claims to hand over from the real key, but is signed by another.
    const forged = signKeyTransition(
      {
        origin,
        purpose: 'audit',
        from: formatVerifierKey(origin, fakeSigner.rawPublicKey),
        to,
        time: '2026-01-01T00:00:00Z',
      },
      fakeSigner,
      evilSigner,
    ).replace(formatVerifierKey(origin, fakeSigner.rawPublicKey), current);
    const ev = await ws.audit.record(
      {
        action: 'keys.rotate',
        target: { type: 'key', name: 'audit' },
        params: { purpose: 'audit', from: current, to, statement: forged },
      },
      'ok',
    );
    await append(ws, 1);
    await forgeCheckpoint(ws, evilSigner);
    writeFileSync(
      join(ws.cairnDir, PUBLIC_KEY_FILE),
      (await import('../note/index.js')).publicKeyToPem(publicKeyFromRaw(evilSigner.rawPublicKey)),
    );
    writeFileSync(join(ws.cairnDir, PRIVATE_KEY_FILE), privateKeyToPem(evil.privateKey), { mode: 0o600 });
    // The log itself will not sign over a checkpoint row its key did not make.
    await expect(ws.close()).rejects.toSatisfy((e) => isCairnError(e, 'AUDIT_INCONSISTENT'));
    const again = await reopen(dir);
    const report = await verify(again);
    expect(report.ok).toBe(false);
    const kinds = report.problems.map((p) => p.kind);
    expect(kinds).toContain('key-transition');
    expect(report.problems.find((p) => p.kind === 'key-transition')!.index).toBe(ev.index);
    expect(kinds).toContain('checkpoint-signature');
    expect(kinds).toContain('key-chain');
    await again.close();
  });

  it('refuses a key that appears from nowhere (replaced without a transition)', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    await append(ws, 3);
    await ws.audit.checkpoint();
    await ws.close();
    const evil = generateSigningKeyPair();
    const { publicKeyToPem } = await import('../note/index.js');
    writeFileSync(join(dir, '.cairn', PUBLIC_KEY_FILE), publicKeyToPem(evil.publicKey));
    writeFileSync(join(dir, '.cairn', PRIVATE_KEY_FILE), privateKeyToPem(evil.privateKey), { mode: 0o600 });
    const again = await reopen(dir);
    const report = await verify(again);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.kind)).toContain('checkpoint-signature');
    // Nor does the log sign on top of checkpoints the new key did not make.
    await append(again, 1);
    await expect(again.audit.checkpoint()).rejects.toSatisfy((e) => isCairnError(e, 'AUDIT_INCONSISTENT'));
    await expect(again.close()).rejects.toSatisfy((e) => isCairnError(e, 'AUDIT_INCONSISTENT'));
  });

  it('an interrupted rotation blocks signing until it is run again, which finishes what the log recorded', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    await append(ws, 2);
    // The crash: the next key is on disk and the log recorded the transition, the key was never put in place.
    ws.audit.keys.signer();
    const next = generateSigningKeyPair();
    writeFileSync(join(ws.cairnDir, NEXT_PRIVATE_KEY_FILE), privateKeyToPem(next.privateKey), { mode: 0o600 });
    const raw = rawPublicKey(next.publicKey);
    const origin = ws.audit.keys.origin;
    await ws.audit.rotateKey({
      origin,
      rawPublicKey: raw,
      verifier: parseVerifierKey(formatVerifierKey(origin, raw)),
      signer: () => ({ name: origin, privateKey: next.privateKey, rawPublicKey: raw }),
    });
    await ws.close();
    const again = await reopen(dir);
    await append(again, 1);
    await expect(again.audit.checkpoint()).rejects.toSatisfy((e) => isCairnError(e, 'CONFIG_INVALID'));
    const r = await rotateAuditKey(again.cairnDir, again.audit, {});
    expect(r.resumed).toBe(true);
    expect(r.to).toBe(formatVerifierKey(origin, raw));
    await again.close();
    const third = await reopen(dir);
    expect(third.audit.keys.rawPublicKey.equals(raw)).toBe(true);
    await third.audit.checkpoint();
    expect((await verify(third)).problems).toEqual([]);
    // A next key the log never heard of is discarded and a fresh rotation made.
    writeFileSync(join(third.cairnDir, NEXT_PRIVATE_KEY_FILE), privateKeyToPem(generateSigningKeyPair().privateKey), {
      mode: 0o600,
    });
    const fresh = await rotateAuditKey(third.cairnDir, third.audit, {});
    expect(fresh.resumed).toBe(false);
    expect((await verify(third)).problems).toEqual([]);
    expect((await verify(third)).keys).toHaveLength(3);
    await third.close();
  });

  it('a team-server client follows a signed transition from the key it pinned, and refuses an unannounced key change', async () => {
    const ws = await newWorkspace(tmp());
    await append(ws, 2);
    const origin = ws.audit.keys.origin;
    const pinned = parseVerifierKey(formatVerifierKey(origin, ws.audit.keys.rawPublicKey));
    const before = (await ws.audit.checkpoint())!;
    const seen = offlineAudit.followCheckpoint(before.note, pinned, origin, null, []);
    const r = await rotateAuditKey(ws.cairnDir, ws.audit, {});
    await append(ws, 2);
    const after = (await ws.audit.checkpoint())!;
    const proof = await ws.audit.consistency(seen.size, after.size);
    const transitions = (await ws.audit.keyRotations()).map(({ index, statement }) => ({ index, statement }));
    // Without the transition the new signature is a changed key: refused.
    expect(() => offlineAudit.followCheckpoint(after.note, pinned, origin, seen, proof)).toThrow(/does not verify/);
    const followed = offlineAudit.followCheckpoint(after.note, pinned, origin, seen, proof, transitions);
    expect(followed).toMatchObject({ size: after.size, key: r.to });
    // A transition made by someone without the pinned key moves nothing.
    const stranger = generateSigningKeyPair();
    const evil = generateSigningKeyPair();
    const sign = (k: typeof stranger): NoteSigner => ({
      name: origin,
      privateKey: k.privateKey,
      rawPublicKey: rawPublicKey(k.publicKey),
    });
    const forged = signKeyTransition(
      {
        origin,
        purpose: 'audit',
        from: formatVerifierKey(origin, rawPublicKey(stranger.publicKey)),
        to: formatVerifierKey(origin, rawPublicKey(evil.publicKey)),
        time: '2026-01-01T00:00:00Z',
      },
      sign(stranger),
      sign(evil),
    );
    const size = await ws.audit.size();
    const evilNote = signCheckpoint({ origin, size, rootHash: await ws.audit.rootAt(size) }, sign(evil));
    expect(() =>
      offlineAudit.followCheckpoint(evilNote, pinned, origin, null, [], [{ index: 0, statement: forged }]),
    ).toThrow(/does not verify/);
    // A transition that the checkpoint does not cover is not followed into.
    expect(() => offlineAudit.followCheckpoint(before.note, pinned, origin, null, [], transitions)).toThrow(
      /does not verify|does not cover/,
    );
    await ws.close();
  });

  it('property: random appends, checkpoints and rotations verify; any single tampering is caught', async () => {
    for (const seed of [1, 2, 3]) {
      const dir = tmp();
      const ws = await newWorkspace(dir);
      const rnd = prng(seed, 64);
      const retired: NoteSigner[] = [];
      const rotatedAt: number[] = [];
      for (let step = 0; step < 12; step++) {
        const pick = rnd[step]! % 6;
        if (pick < 3) await append(ws, 1 + (rnd[step + 20]! % 3), `d${step}`);
        else if (pick < 5) await ws.audit.checkpoint();
        else {
          retired.push(fileSigner(ws, readFileSync(join(ws.cairnDir, PRIVATE_KEY_FILE), 'utf8')));
          rotatedAt.push((await rotateAuditKey(ws.cairnDir, ws.audit, {})).index);
        }
        const report = await verify(ws);
        expect(report.problems, `seed ${seed} step ${step}`).toEqual([]);
      }
      if (retired.length === 0) {
        retired.push(fileSigner(ws, readFileSync(join(ws.cairnDir, PRIVATE_KEY_FILE), 'utf8')));
        rotatedAt.push((await rotateAuditKey(ws.cairnDir, ws.audit, {})).index);
      }
      await append(ws, 1);
      const tamper = rnd[40]! % 3;
      if (tamper === 0) {
        // A retired key signs a checkpoint after it was handed over.
        await forgeCheckpoint(ws, retired[rnd[41]! % retired.length]!);
      } else if (tamper === 1) {
        // The transition statement is swapped for one the old key never signed.
        const idx = rotatedAt[rnd[41]! % rotatedAt.length]!;
        const row = await ws.meta.db
          .selectFrom('audit_events')
          .select('entry')
          .where('idx', '=', idx)
          .executeTakeFirstOrThrow();
        const changed = row.entry.replace(/\\ntime 2/, '\\ntime 1');
        expect(changed).not.toBe(row.entry);
        await ws.meta.db.updateTable('audit_events').set({ entry: changed }).where('idx', '=', idx).execute();
      } else {
        // The rotation event is removed from the entries.
        const idx = rotatedAt[rnd[41]! % rotatedAt.length]!;
        await ws.meta.db.deleteFrom('audit_events').where('idx', '=', idx).execute();
      }
      const report = await verify(ws);
      expect(report.ok, `seed ${seed} tamper ${tamper}`).toBe(false);
      // Closing signs a checkpoint, which the tampered log refuses (also caught, by the log itself).
      await ws.close().catch(() => {});
    }
  });
});
