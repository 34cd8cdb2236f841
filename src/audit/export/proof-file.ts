import { CairnError } from '../../core/errors.js';
import { leafHash, verifyInclusion } from '../merkle/index.js';
import { openCheckpoint, parseVerifierKey, type NoteVerifier } from '../note/index.js';

export const PROOF_FORMAT = 'cairn.audit-proof/v1';

export interface ProofFile {
  format: typeof PROOF_FORMAT;
  index: number;
  entry: string;
  leafHash: string;
  treeSize: number;
  proof: string[];
  checkpoint: string;
  verifierKey: string;
}

export interface ProofCheck {
  ok: boolean;
  index: number;
  treeSize: number;
  origin: string;
  keyTrusted: boolean;
  problems: string[];
}

/**
 * Checks a proof offline: the entry hashes to the leaf, the path leads to the checkpoint's
 * root, and the checkpoint is signed by the trusted key (or, without one, by the key the
 * file names — which only shows the file is self-consistent).
 */
export function checkProofFile(text: string, trusted?: NoteVerifier): ProofCheck {
  let p: ProofFile;
  try {
    p = JSON.parse(text) as ProofFile;
  } catch {
    throw new CairnError('INVALID_INPUT', 'the proof file is not JSON');
  }
  if (p.format !== PROOF_FORMAT) throw new CairnError('UNSUPPORTED', `unknown proof format ${String(p.format)}`);
  const problems: string[] = [];
  const key =
    trusted ??
    (() => {
      const k = parseVerifierKey(p.verifierKey);
      return { name: k.name, keyId: k.keyId, publicKey: k.publicKey };
    })();
  let origin = '';
  try {
    const { checkpoint } = openCheckpoint(p.checkpoint, [key]);
    origin = checkpoint.origin;
    if (checkpoint.size !== p.treeSize)
      problems.push(`the checkpoint is for size ${checkpoint.size}, the proof for ${p.treeSize}`);
    const leaf = leafHash(Buffer.from(p.entry, 'utf8'));
    if (leaf.toString('hex') !== p.leafHash) problems.push('the entry does not hash to the stated leaf');
    if (
      !verifyInclusion(
        leaf,
        p.index,
        checkpoint.size,
        p.proof.map((h) => Buffer.from(h, 'hex')),
        checkpoint.rootHash,
      )
    ) {
      problems.push(`the audit path does not lead from entry ${p.index} to the checkpoint root`);
    }
  } catch (err) {
    problems.push(`the checkpoint signature does not verify: ${(err as Error).message}`);
  }
  return {
    ok: problems.length === 0,
    index: p.index,
    treeSize: p.treeSize,
    origin,
    keyTrusted: trusted !== undefined,
    problems,
  };
}
