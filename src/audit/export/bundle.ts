import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../../core/errors.js';
import { allCheckpoints } from '../../meta/repos/audit.js';
import { consistencyProof, inclusionProof, leafHash, nodeHash, rangeHash } from '../merkle/index.js';
import {
  formatVerifierKey,
  parseVerifierKey,
  publicKeyFromRaw,
  publicKeyToPem,
  rawPublicKey,
  type NoteVerifier,
} from '../note/index.js';
import { chainKey } from '../log/key-transition.js';
import type { AuditLog } from '../log/audit-log.js';
import { LogVerifier, type VerifyProblem } from '../verify/log-verifier.js';
import { bundleKeyProblems, checkBundleProofs } from './bundle-checks.js';
import { EXPORT_README, VERIFY_PY, VERIFY_SH } from './bundle-docs.js';
import type { ReadDb } from '../../meta/read-db.js';

export const BUNDLE_FORMAT = 'cairn.audit-export/v1';
/** An entry withheld from the bundle's reader: its leaf hash alone (never valid JSON, so never an entry). */
const REDACTED = /^#redacted ([0-9a-f]{64})$/;
/** Past this many entries the per-entry inclusion proofs would dwarf the log itself. */
export const MAX_INCLUSION_PROOFS = 200_000;

export interface ExportResult {
  dir: string;
  size: number;
  root: string;
  checkpoints: number;
  inclusionProofs: number;
}

/**
 * Writes a bundle anyone can verify without Cairn's database: the exact entry bytes, every
 * signed checkpoint, the public key (signed-note and PEM forms), consistency proofs between
 * checkpoints and inclusion proofs of each entry in the latest one.
 */
export async function exportBundle(db: ReadDb, log: AuditLog, dir: string): Promise<ExportResult> {
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new CairnError('ALREADY_EXISTS', `${dir} is not empty`, { hint: 'export into a new or empty directory' });
  }
  await log.checkpoint();
  const cps = (await allCheckpoints(db)).map((c) => ({ size: Number(c.size), root: c.root, note: c.note }));
  const latest = cps[cps.length - 1];
  if (!latest) throw new CairnError('NOT_FOUND', 'the audit log is empty');
  mkdirSync(join(dir, 'checkpoints'), { recursive: true });
  mkdirSync(join(dir, 'proofs'), { recursive: true });

  // Entries up to the latest checkpoint, streamed to disk; leaf hashes kept for the proofs.
  const leaves: Buffer[] = [];
  const out = createWriteStream(join(dir, 'entries.jsonl'));
  let after = -1;
  for (;;) {
    const rows = await db
      .selectFrom('audit_events')
      .select(['idx', 'entry'])
      .where('idx', '>', after)
      .where('idx', '<', latest.size)
      .orderBy('idx')
      .limit(20_000)
      .execute();
    for (const r of rows) {
      if (!out.write(`${r.entry}\n`)) await new Promise<void>((res) => out.once('drain', () => res()));
      leaves.push(leafHash(Buffer.from(r.entry, 'utf8')));
    }
    if (rows.length < 20_000) break;
    after = Number(rows[rows.length - 1]!.idx);
  }
  await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));

  for (const c of cps) writeFileSync(join(dir, 'checkpoints', `${String(c.size).padStart(12, '0')}.note`), c.note);
  const vkey = formatVerifierKey(log.keys.origin, log.keys.rawPublicKey);
  writeFileSync(join(dir, 'public-key.vkey'), `${vkey}\n`);
  await writeKeyFiles(dir, log, latest.size, vkey);

  // All perfect subtree hashes in memory: proofs for every entry then cost microseconds.
  const levels: Buffer[][] = [leaves];
  while (levels[levels.length - 1]!.length > 1) {
    const prev = levels[levels.length - 1]!;
    const next: Buffer[] = [];
    for (let i = 0; i + 1 < prev.length; i += 2) next.push(nodeHash(prev[i]!, prev[i + 1]!));
    levels.push(next);
  }
  const mth = (s: number, e: number) => rangeHash(s, e, (level, idx) => levels[level]![idx]!);
  const cons = cps.slice(0, -1).map((c, i) => ({
    from: c.size,
    to: cps[i + 1]!.size,
    proof: consistencyProof(c.size, cps[i + 1]!.size, mth).map((h) => h.toString('hex')),
  }));
  writeFileSync(
    join(dir, 'proofs', 'consistency.jsonl'),
    cons.map((c) => JSON.stringify(c)).join('\n') + (cons.length ? '\n' : ''),
  );
  let inclusionProofs = 0;
  if (leaves.length <= MAX_INCLUSION_PROOFS) {
    const incl = createWriteStream(join(dir, 'proofs', 'inclusion.jsonl'));
    for (let i = 0; i < leaves.length; i++) {
      const line = JSON.stringify({
        index: i,
        leafHash: leaves[i]!.toString('hex'),
        treeSize: latest.size,
        proof: inclusionProof(i, latest.size, mth).map((h) => h.toString('hex')),
      });
      if (!incl.write(`${line}\n`)) await new Promise<void>((res) => incl.once('drain', () => res()));
      inclusionProofs++;
    }
    await new Promise<void>((res, rej) => incl.end((err?: Error | null) => (err ? rej(err) : res())));
  }
  writeFileSync(
    join(dir, 'log.json'),
    `${JSON.stringify({ format: BUNDLE_FORMAT, origin: log.keys.origin, verifierKey: vkey, size: latest.size, root: latest.root, checkpoints: cps.length, inclusionProofs, exportedAt: new Date().toISOString() }, null, 2)}\n`,
  );
  writeFileSync(join(dir, 'README.md'), EXPORT_README);
  writeFileSync(join(dir, 'verify.py'), VERIFY_PY);
  writeFileSync(join(dir, 'verify.sh'), VERIFY_SH, { mode: 0o755 });
  return { dir, size: latest.size, root: latest.root, checkpoints: cps.length, inclusionProofs };
}

export interface BundleVerifyReport {
  ok: boolean;
  size: number;
  root: string;
  checkpoints: number;
  inclusionProofsChecked: number;
  consistencyProofsChecked: number;
  /** Entries the bundle carries only as leaf hashes (a team server's bundle for a reader of some projects). */
  redacted: number;
  firstBad: VerifyProblem | null;
  problems: VerifyProblem[];
}

/** Verifies a bundle with nothing but its files (and, ideally, a key the caller already trusts). */
export async function verifyBundle(
  dir: string,
  trustedKey?: NoteVerifier,
  trustedCheckpoint?: string,
): Promise<BundleVerifyReport> {
  const read = (p: string) => {
    try {
      return readFileSync(join(dir, p), 'utf8');
    } catch {
      throw new CairnError('INVALID_INPUT', `${join(dir, p)} is missing: not an audit export bundle`);
    }
  };
  const meta = bundleMeta(dir, read('log.json'));
  const text = read('entries.jsonl');
  const lines = text.length ? text.replace(/\n$/, '').split('\n') : [];
  // After a rotation the bundle's key is the last of a chain that starts at the key the first
  // transition hands over from; a key the caller trusts must be somewhere on that chain.
  const firstFrom = firstRotationFrom(lines);
  const { own, problems: keyProblems } = bundleKeyProblems(read, firstFrom === null ? trustedKey : undefined);
  const k = firstFrom === null ? (trustedKey ?? own!) : chainStart(firstFrom, keyProblems, trustedKey ?? own!);
  const cpFiles = readdirSync(join(dir, 'checkpoints'))
    .filter((f) => f.endsWith('.note'))
    .sort();
  const checkpoints = cpFiles.map((f) => {
    const note = readFileSync(join(dir, 'checkpoints', f), 'utf8');
    const lines = note.split('\n');
    return { size: Number(lines[1]), root: Buffer.from(lines[2] ?? '', 'base64').toString('hex'), note };
  });
  const v = new LogVerifier({
    checkpoints,
    verifier: k,
    origin: meta.origin,
    ...(trustedCheckpoint ? { trusted: { note: trustedCheckpoint, verifier: trustedKey ?? own! } } : {}),
  });
  const { leaves, redacted } = pushEntries(v, lines);
  v.finish(null);
  const problems = [...v.problems, ...keyProblems];
  if (firstFrom !== null) problems.push(...chainEndProblems(v, own, trustedKey));
  // An export ends at its latest checkpoint: entries past it would be vouched for by nothing.
  const signedSize = checkpoints.reduce((m, c) => Math.max(m, c.size), 0);
  if (lines.length > signedSize) {
    problems.push({
      index: signedSize,
      kind: 'unsigned-tail',
      message: `entries ${signedSize}..${lines.length - 1} are covered by no signed checkpoint (was the latest checkpoint removed?)`,
    });
  }
  if (meta.checkpoints !== checkpoints.length) {
    problems.push({
      index: null,
      kind: 'bundle-incomplete',
      message: `log.json lists ${meta.checkpoints} checkpoints but the bundle holds ${checkpoints.length} (was one removed?)`,
    });
  }
  const root = v.root();
  const { inclusionChecked, consistencyChecked } = await checkBundleProofs(dir, read, leaves, checkpoints, problems);
  const first = problems.length ? (v.firstBad() ?? problems.find((p) => p.index !== null) ?? problems[0]!) : null;
  return {
    ok: problems.length === 0,
    size: lines.length,
    root: root.toString('hex'),
    checkpoints: checkpoints.length,
    inclusionProofsChecked: inclusionChecked,
    consistencyProofsChecked: consistencyChecked,
    redacted,
    firstBad: first,
    problems,
  };
}

interface BundleMeta {
  format: string;
  origin: string;
  verifierKey: string;
  size: number;
  checkpoints: number;
}

/** log.json, refused as a whole when it is not a bundle's (hostile bundles reach here). */
function bundleMeta(dir: string, text: string): BundleMeta {
  let meta: BundleMeta;
  try {
    meta = JSON.parse(text) as BundleMeta;
  } catch {
    throw new CairnError('INVALID_INPUT', `${join(dir, 'log.json')} is not JSON: not an audit export bundle`);
  }
  if (!meta || typeof meta !== 'object')
    throw new CairnError('INVALID_INPUT', `${join(dir, 'log.json')} is not an object: not an audit export bundle`);
  if (meta.format !== BUNDLE_FORMAT) throw new CairnError('UNSUPPORTED', `unknown bundle format ${meta.format}`);
  return meta;
}

/** The key the first audit-key transition in these entries hands over from (null: never rotated). */
/** Feeds a bundle's entries to the verifier; a redacted one is taken as the leaf hash it carries. */
function pushEntries(v: LogVerifier, lines: readonly string[]): { leaves: Buffer[]; redacted: number } {
  const leaves: Buffer[] = [];
  let redacted = 0;
  lines.forEach((entry, i) => {
    const withheld = REDACTED.exec(entry);
    if (withheld) {
      redacted++;
      leaves.push(Buffer.from(withheld[1]!, 'hex'));
      v.pushRedacted(i, withheld[1]!);
      return;
    }
    const leaf = leafHash(Buffer.from(entry, 'utf8'));
    leaves.push(leaf);
    v.push(i, entry, leaf.toString('hex'));
  });
  return { leaves, redacted };
}

function firstRotationFrom(lines: readonly string[]): string | null {
  for (const line of lines) {
    if (!line.includes('"keys.rotate"')) continue;
    try {
      const ev = JSON.parse(line) as {
        action?: unknown;
        outcome?: unknown;
        params?: { purpose?: unknown; from?: unknown };
      };
      if (
        ev.action === 'keys.rotate' &&
        ev.outcome === 'ok' &&
        ev.params?.purpose === 'audit' &&
        typeof ev.params.from === 'string'
      )
        return ev.params.from;
    } catch {
      // reported by the verifier
    }
  }
  return null;
}

/** public-key.pem, and every key the log signed with by the size from which it signs, for verify.sh (docs/AUDIT.md §8). */
async function writeKeyFiles(dir: string, log: AuditLog, size: number, vkey: string): Promise<void> {
  writeFileSync(join(dir, 'public-key.pem'), publicKeyToPem(publicKeyFromRaw(log.keys.rawPublicKey)));
  mkdirSync(join(dir, 'keys'));
  const rotations = (await log.keyRotations()).filter((r) => r.index < size);
  const chain = [
    { from: 0, vkey: rotations[0]?.from ?? vkey },
    ...rotations.map((r) => ({ from: r.index + 1, vkey: r.to })),
  ];
  for (const k of chain)
    writeFileSync(
      join(dir, 'keys', `${String(k.from).padStart(12, '0')}.pem`),
      publicKeyToPem(publicKeyFromRaw(parseVerifierKey(k.vkey).rawPublicKey)),
    );
}

/** After a rotation: the bundle's own key must be where the chain ends, a trusted key somewhere on it. */
function chainEndProblems(
  v: LogVerifier,
  own: NoteVerifier | null,
  trustedKey: NoteVerifier | undefined,
): VerifyProblem[] {
  const out: VerifyProblem[] = [];
  const vkeyOf = (key: NoteVerifier) => formatVerifierKey(key.name, rawPublicKey(key.publicKey));
  if (own && vkeyOf(own) !== v.chain.current.vkey)
    out.push({
      index: null,
      kind: 'key-chain',
      message: `public-key.vkey is ${vkeyOf(own)}, but the log's key transitions end at ${v.chain.current.vkey}`,
    });
  if (trustedKey && !v.chain.has(vkeyOf(trustedKey)))
    out.push({
      index: null,
      kind: 'bundle-key',
      message:
        'the trusted key is not on the chain of keys this log handed over through: the bundle names another signer',
    });
  return out;
}

function chainStart(vkey: string, problems: VerifyProblem[], fallback: NoteVerifier): NoteVerifier {
  try {
    return chainKey(vkey);
  } catch (err) {
    problems.push({
      index: null,
      kind: 'key-transition',
      message: `the first key transition names no verifier key: ${(err as Error).message}`,
    });
    return fallback;
  }
}
