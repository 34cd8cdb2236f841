import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NoteVerifier } from '../note/index.js';
import { parseVerifierKey, publicKeyFromPem, publicKeyToPem } from '../note/index.js';
import type { VerifyProblem } from '../verify/log-verifier.js';

/**
 * The bundle's key files are what standard tools (verify.sh) use: they must be the key the
 * caller trusts, and the PEM and the vkey must be one key. Without a trusted key, an unreadable
 * vkey is an error (there is nothing to verify with).
 */
export function bundleKeyProblems(
  read: (p: string) => string,
  trustedKey: NoteVerifier | undefined,
): { own: NoteVerifier | null; problems: VerifyProblem[] } {
  const keyProblems: VerifyProblem[] = [];
  const pemOf = (key: NoteVerifier['publicKey']) => publicKeyToPem(key).trim();
  let own: NoteVerifier | null = null;
  try {
    const p = parseVerifierKey(read('public-key.vkey').trim());
    own = { name: p.name, keyId: p.keyId, publicKey: p.publicKey };
  } catch (err) {
    if (!trustedKey) throw err;
    keyProblems.push({
      index: null,
      kind: 'bundle-key',
      message: `public-key.vkey is not a verifier key: ${(err as Error).message}`,
    });
  }
  if (
    own &&
    trustedKey &&
    (own.name !== trustedKey.name ||
      !own.keyId.equals(trustedKey.keyId) ||
      pemOf(own.publicKey) !== pemOf(trustedKey.publicKey))
  ) {
    keyProblems.push({
      index: null,
      kind: 'bundle-key',
      message: 'public-key.vkey is not the trusted key: the bundle names another signer',
    });
  }
  let pem: string | null = null;
  try {
    pem = pemOf(publicKeyFromPem(read('public-key.pem')));
  } catch {
    pem = null;
  }
  if (own && pem !== pemOf(own.publicKey))
    keyProblems.push({
      index: null,
      kind: 'bundle-key',
      message: 'public-key.pem and public-key.vkey are not the same key',
    });
  return { own, problems: keyProblems };
}

/** Checks the bundle's inclusion and consistency proofs against its entries and checkpoint roots; adds what fails to `problems`. */
export async function checkBundleProofs(
  dir: string,
  read: (p: string) => string,
  leaves: readonly Buffer[],
  checkpoints: ReadonlyArray<{ size: number; root: string }>,
  problems: VerifyProblem[],
): Promise<{ inclusionChecked: number; consistencyChecked: number }> {
  let inclusionChecked = 0;
  let consistencyChecked = 0;
  const { verifyInclusion, verifyConsistency } = await import('../merkle/index.js');
  const rootAt = new Map(checkpoints.map((c) => [c.size, Buffer.from(c.root, 'hex')]));
  const incl = existsSync(join(dir, 'proofs', 'inclusion.jsonl'))
    ? read('proofs/inclusion.jsonl').split('\n').filter(Boolean)
    : [];
  for (const [n, line] of incl.entries()) {
    const p = proofLine(line, ['index', 'treeSize'], 'leafHash');
    if (!p) {
      problems.push({
        index: null,
        kind: 'leaf-mismatch',
        message: `line ${n + 1} of proofs/inclusion.jsonl is not an inclusion proof`,
      });
      continue;
    }
    const r = rootAt.get(p.treeSize);
    const leaf = leaves[p.index];
    if (
      !r ||
      !leaf ||
      leaf.toString('hex') !== p.leafHash ||
      !verifyInclusion(
        leaf,
        p.index,
        p.treeSize,
        p.proof.map((h) => Buffer.from(h, 'hex')),
        r,
      )
    ) {
      problems.push({
        index: p.index,
        kind: 'leaf-mismatch',
        message: `the inclusion proof of entry ${p.index} (proofs/inclusion.jsonl) does not verify`,
      });
    } else inclusionChecked++;
  }
  const cons = existsSync(join(dir, 'proofs', 'consistency.jsonl'))
    ? read('proofs/consistency.jsonl').split('\n').filter(Boolean)
    : [];
  for (const [n, line] of cons.entries()) {
    const c = proofLine(line, ['from', 'to']);
    if (!c) {
      problems.push({
        index: null,
        kind: 'checkpoint-mismatch',
        message: `line ${n + 1} of proofs/consistency.jsonl is not a consistency proof`,
      });
      continue;
    }
    const r1 = rootAt.get(c.from);
    const r2 = rootAt.get(c.to);
    if (
      !r1 ||
      !r2 ||
      !verifyConsistency(
        c.from,
        c.to,
        r1,
        r2,
        c.proof.map((h) => Buffer.from(h, 'hex')),
      )
    ) {
      problems.push({
        index: c.from,
        kind: 'checkpoint-mismatch',
        message: `checkpoints ${c.from} and ${c.to} are not consistent (proofs/consistency.jsonl)`,
      });
    } else consistencyChecked++;
  }
  return { inclusionChecked, consistencyChecked };
}

/**
 * One line of a proofs file, or null when it is not one: the bundle is someone else's file, so its
 * shape is checked before any field is used (a verdict, never a crash, whatever the line holds).
 */
function proofLine<K extends string>(
  line: string,
  sizes: readonly K[],
  hash?: string,
): (Record<K, number> & { proof: string[]; leafHash: string }) | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (!sizes.every((k) => Number.isSafeInteger(o[k]) && (o[k] as number) >= 0)) return null;
  if (hash !== undefined && typeof o[hash] !== 'string') return null;
  if (!Array.isArray(o.proof) || !o.proof.every((h) => typeof h === 'string')) return null;
  return o as Record<K, number> & { proof: string[]; leafHash: string };
}
