import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openNote, parseCheckpointBody, parseVerifierKey, type NoteVerifier } from '../note/index.js';
import { verifyTimestamp } from '../timestamp/index.js';
import type { VerifyProblem } from '../verify/log-verifier.js';
import { checkWitnessConfig, cosignaturesOf, type WitnessConfig } from './log-witnessing.js';

export interface BundleEvidenceReport {
  cosignedCheckpoints: number;
  timestampTokens: number;
  /** The latest checkpoint's valid cosignatures against the policy (null: no witness config in the bundle). */
  latest: { size: number; cosignatures: string[]; policy: number; witnessed: boolean } | null;
  problems: VerifyProblem[];
}

/**
 * Checks what an export carries besides the log: `witness/` (the witness list and policy, and
 * each checkpoint with its cosignatures) and `timestamp/` (RFC 3161 tokens beside the notes they
 * stamp, and the TSA's CA). Each cosigned note must carry the log's valid signature over the same
 * checkpoint as the bundle's own, and every cosignature by a listed witness must verify; each
 * token must pass `openssl ts -verify` against the bundle's CA. `witnessConfig` replaces the
 * bundle's own list (the keys an auditor trusts); otherwise the list is the bundle's, which
 * proves only self-consistency.
 */
export async function verifyBundleEvidence(
  dir: string,
  log: NoteVerifier,
  checkpoints: ReadonlyArray<{ size: number; note: string }>,
  witnessConfig?: WitnessConfig,
): Promise<BundleEvidenceReport> {
  const problems: VerifyProblem[] = [];
  const problem = (kind: VerifyProblem['kind'], message: string) => problems.push({ index: null, kind, message });
  const bodyOf = (note: string) => note.slice(0, note.lastIndexOf('\n\n') + 1);
  const bodies = new Map(checkpoints.map((c) => [bodyOf(c.note), c.size]));
  let config: WitnessConfig | null = witnessConfig ?? null;
  const cfgPath = join(dir, 'witness', 'witnesses.json');
  if (!config && existsSync(cfgPath)) {
    try {
      config = checkWitnessConfig(JSON.parse(readFileSync(cfgPath, 'utf8')), cfgPath);
    } catch (err) {
      problem('cosignature', `witness/witnesses.json: ${(err as Error).message}`);
    }
  }
  const cosignedDir = join(dir, 'witness', 'cosigned');
  const cosignedFiles = existsSync(cosignedDir) ? readdirSync(cosignedDir).filter((f) => f.endsWith('.note')) : [];
  const bySize = new Map<number, string[]>();
  for (const f of cosignedFiles) {
    const note = readFileSync(join(cosignedDir, f), 'utf8');
    try {
      const text = openNote(note, [log]).text;
      const cp = parseCheckpointBody(text);
      if (!bodies.has(text)) {
        problem(
          'cosignature',
          `witness/cosigned/${f} is a checkpoint of size ${cp.size} that the bundle's log does not hold`,
        );
        continue;
      }
      const names = config ? cosignaturesOf(note, config).map((c) => c.name) : [];
      bySize.set(cp.size, names);
    } catch (err) {
      problem('cosignature', `witness/cosigned/${f}: ${(err as Error).message}`);
    }
  }
  const tsDir = join(dir, 'timestamp');
  const tokens = existsSync(tsDir) ? readdirSync(tsDir).filter((f) => f.endsWith('.tsr')) : [];
  const ca = existsSync(join(tsDir, 'ca.pem')) ? readFileSync(join(tsDir, 'ca.pem'), 'utf8') : null;
  for (const t of tokens) {
    const dataFile = join(tsDir, t.replace(/\.tsr$/, '.checkpoint'));
    if (!existsSync(dataFile)) {
      problem('timestamp', `timestamp/${t} has no checkpoint beside it`);
      continue;
    }
    const data = readFileSync(dataFile, 'utf8');
    if (!bodies.has(bodyOf(data)))
      problem('timestamp', `timestamp/${t} stamps a checkpoint the bundle's log does not hold`);
    if (!ca) {
      problem('timestamp', `timestamp/${t} cannot be checked: the bundle has no timestamp/ca.pem`);
      continue;
    }
    const r = await verifyTimestamp(data, readFileSync(join(tsDir, t)), ca);
    if (!r.ok) problem('timestamp', `timestamp/${t} does not verify: ${r.message}`);
  }
  const last = checkpoints[checkpoints.length - 1];
  const latest =
    config && last
      ? {
          size: last.size,
          cosignatures: bySize.get(last.size) ?? [],
          policy: config.policy,
          witnessed: config.policy > 0 && (bySize.get(last.size) ?? []).length >= config.policy,
        }
      : null;
  return { cosignedCheckpoints: cosignedFiles.length, timestampTokens: tokens.length, latest, problems };
}

/** verifyBundleEvidence with the bundle's checkpoints, and its own log key unless one is trusted. */
export async function verifyExportEvidence(dir: string, trusted?: NoteVerifier): Promise<BundleEvidenceReport> {
  const key = trusted ?? parseVerifierKey(readFileSync(join(dir, 'public-key.vkey'), 'utf8').trim());
  const cpDir = join(dir, 'checkpoints');
  const checkpoints = readdirSync(cpDir)
    .filter((f) => f.endsWith('.note'))
    .sort()
    .map((f) => {
      const note = readFileSync(join(cpDir, f), 'utf8');
      return { size: Number(note.split('\n')[1]), note };
    });
  return verifyBundleEvidence(dir, key, checkpoints);
}
