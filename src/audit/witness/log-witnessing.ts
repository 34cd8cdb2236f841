import { CairnError } from '../../core/errors.js';
import { parseCheckpointBody } from '../note/index.js';
import { parseCosignerVkey, signatureLines, verifyCosignatures, type VerifiedCosignature } from './cosignature.js';
import { requestCosignature, type WitnessAttempt, type WitnessEndpoint } from './client.js';
import { requestTimestamp, type TimestampConfig } from '../timestamp/index.js';

/** Which witnesses a log sends its checkpoints to, and how many cosignatures make it witnessed. */
export interface WitnessConfig {
  witnesses: Array<{ url: string; vkey: string }>;
  /** k of n: a checkpoint is witnessed with this many valid cosignatures from the listed witnesses. */
  policy: number;
}

/**
 * Where a log keeps its witness configuration and the cosigned checkpoints (app/ puts them in
 * `.cairn/witness/`). A cosigned checkpoint is the log's note with the witnesses' signature lines
 * appended: the standard form any signed-note verifier reads.
 */
export interface WitnessFiles {
  readonly where: string;
  readConfig(): WitnessConfig;
  writeConfig(config: WitnessConfig): Promise<void>;
  readCosigned(size: number, rootHex: string): string | null;
  writeCosigned(size: number, rootHex: string, note: string): Promise<void>;
  /** The size each witness (by vkey) last cosigned, as far as this log knows. */
  readSizes(): Record<string, number>;
  writeSizes(sizes: Record<string, number>): Promise<void>;
  /** The RFC 3161 timestamp authority, or null. */
  readTsa(): TimestampConfig | null;
  writeTsa(config: TimestampConfig | null): Promise<void>;
  /** A checkpoint's timestamp token; kept beside the exact note it stamps (`openssl ts -verify -data`). */
  readToken(size: number, rootHex: string): { token: Buffer; dataPath: string; tokenPath: string } | null;
  writeToken(
    size: number,
    rootHex: string,
    note: string,
    token: Buffer,
  ): Promise<{ dataPath: string; tokenPath: string }>;
  /** Copies the witness list, every cosigned checkpoint, the tokens and the TSA's CA into an export. */
  exportTo(dir: string): Promise<{ cosigned: number; tokens: number }>;
}

export interface WitnessReport {
  size: number;
  root: string;
  policy: number;
  configured: number;
  /** Valid cosignatures by configured witnesses over this checkpoint. */
  cosignatures: Array<VerifiedCosignature & { url: string }>;
  witnessed: boolean;
  /** Witnesses asked this time that did not cosign, and why. */
  failures: Array<Extract<WitnessAttempt, { ok: false }> & { url: string }>;
  /** The note with every cosignature: what bundles and auditors get. */
  cosignedNote: string;
  /** The checkpoint's RFC 3161 token, when a timestamp authority is configured. */
  timestamp: { token: string; data: string; time: string | null; verified: boolean } | { error: string } | null;
}

export function endpoints(config: WitnessConfig): WitnessEndpoint[] {
  return config.witnesses.map((w) => ({ url: w.url, key: parseCosignerVkey(w.vkey) }));
}

export function emptyWitnessConfig(): WitnessConfig {
  return { witnesses: [], policy: 0 };
}

/** Checks a config read from disk: each key parses, the policy is within 0..n. */
export function checkWitnessConfig(value: unknown, where: string): WitnessConfig {
  const bad = (why: string) =>
    new CairnError('CONFIG_INVALID', `${where}: ${why}`, { hint: 'fix it with `cairn audit witness add|rm|policy`' });
  const v = value as Partial<WitnessConfig> | null;
  if (typeof v !== 'object' || v === null || !Array.isArray(v.witnesses))
    throw bad('expected {"witnesses": [...], "policy": k}');
  for (const w of v.witnesses) {
    if (typeof w?.url !== 'string' || typeof w?.vkey !== 'string') throw bad('each witness needs a url and a vkey');
    parseCosignerVkey(w.vkey);
  }
  const policy = v.policy ?? 0;
  if (!Number.isSafeInteger(policy) || policy < 0 || policy > v.witnesses.length)
    throw bad(`the policy ${String(policy)} is not between 0 and the ${v.witnesses.length} witness(es)`);
  return { witnesses: v.witnesses.map((w) => ({ url: w.url, vkey: w.vkey })), policy };
}

/** The checkpoint body (text before the signatures) and every signature line of a note. */
function split(note: string): { body: string; lines: string[] } {
  const at = note.lastIndexOf('\n\n');
  if (at < 0) throw new CairnError('INVALID_INPUT', 'not a signed note');
  return { body: note.slice(0, at + 1), lines: signatureLines(note.slice(at + 2)) };
}

/** Valid cosignatures by the configured witnesses over a (cosigned) checkpoint note. */
export function cosignaturesOf(note: string, config: WitnessConfig): Array<VerifiedCosignature & { url: string }> {
  const eps = endpoints(config);
  const { body, lines } = split(note);
  return verifyCosignatures(
    body,
    lines,
    eps.map((e) => e.key),
  ).map((c) => ({ ...c, url: eps.find((e) => e.key.name === c.name && e.key.keyId.toString('hex') === c.keyId)!.url }));
}

function merge(note: string, add: readonly string[]): string {
  const { body } = split(note);
  const existing = note
    .slice(body.length + 1)
    .split('\n')
    .filter((l) => l.length > 0);
  const lines = [...existing];
  for (const l of add) if (!lines.includes(l)) lines.push(l);
  return `${body}\n${lines.map((l) => `${l}\n`).join('')}`;
}

/**
 * Collects cosignatures for a checkpoint of this log from every configured witness that has not
 * cosigned it yet, and stores what it got beside the checkpoint. Never throws for a witness that
 * is down or refuses: the checkpoint is already committed locally, and the report says how far
 * short of the policy it is. `proof(from, to)` gives a consistency proof between two sizes.
 */
export async function witnessCheckpoint(opts: {
  files: WitnessFiles;
  note: string;
  proof: (from: number, to: number) => Promise<Buffer[]>;
  timeoutMs: number;
  /** Ask witnesses (false: only report what is stored). */
  ask: boolean;
  /** The log's audit-key transitions this checkpoint covers, as a cairn-key-transition header value (null: none). */
  transitions?: (size: number) => Promise<string | null>;
}): Promise<WitnessReport> {
  const config = opts.files.readConfig();
  const { body } = split(opts.note);
  const cp = parseCheckpointBody(body);
  const rootHex = cp.rootHash.toString('hex');
  let cosigned = opts.files.readCosigned(cp.size, rootHex) ?? opts.note;
  const have = cosignaturesOf(cosigned, config);
  const failures: WitnessReport['failures'] = [];
  const missing = endpoints(config).filter(
    (e) => !have.some((c) => c.name === e.key.name && c.keyId === e.key.keyId.toString('hex')),
  );
  if (opts.ask && missing.length > 0) {
    const sizes = opts.files.readSizes();
    const transitions = opts.transitions ? await opts.transitions(cp.size) : null;
    const attempts = await Promise.all(
      missing.map((w) =>
        requestCosignature({
          witness: w,
          note: opts.note,
          lastSize: sizes[w.key.vkey] ?? 0,
          proof: (from) => opts.proof(from, cp.size),
          timeoutMs: opts.timeoutMs,
          transitions,
        }).then((a) => ({ ...a, url: w.url })),
      ),
    );
    const lines: string[] = [];
    for (const a of attempts) {
      if (a.ok) {
        lines.push(a.cosignature.line);
        sizes[a.witness] = a.size;
      } else {
        failures.push(a);
        if (a.witnessSize !== undefined && a.kind !== 'fork') sizes[a.witness] = a.witnessSize;
      }
    }
    if (lines.length > 0) cosigned = merge(cosigned, lines);
    await Promise.all([
      lines.length > 0 ? opts.files.writeCosigned(cp.size, rootHex, cosigned) : null,
      opts.files.writeSizes(sizes),
    ]);
  }
  const cosignatures = cosignaturesOf(cosigned, config);
  const timestamp = await stamp(opts.files, opts.note, cp.size, rootHex, opts.ask, opts.timeoutMs);
  return {
    timestamp,
    size: cp.size,
    root: rootHex,
    policy: config.policy,
    configured: config.witnesses.length,
    cosignatures,
    witnessed: cosignatures.length >= config.policy && config.policy > 0,
    failures,
    cosignedNote: cosigned,
  };
}

/**
 * The checkpoint's RFC 3161 token: the kept one, or (when `ask`) a new one from the configured
 * authority. A TSA that is down leaves the checkpoint without trusted time, which the report says.
 */
async function stamp(
  files: WitnessFiles,
  note: string,
  size: number,
  rootHex: string,
  ask: boolean,
  timeoutMs: number,
): Promise<WitnessReport['timestamp']> {
  const tsa = files.readTsa();
  if (!tsa) return null;
  const kept = files.readToken(size, rootHex);
  if (kept) return { token: kept.tokenPath, data: kept.dataPath, time: null, verified: tsa.ca !== null };
  if (!ask) return { error: `checkpoint ${size} has no timestamp token` };
  try {
    const t = await requestTimestamp(note, tsa, timeoutMs);
    const where = await files.writeToken(size, rootHex, note, t.token);
    return { token: where.tokenPath, data: where.dataPath, time: t.time, verified: t.verified };
  } catch (err) {
    return { error: (err as Error).message };
  }
}
