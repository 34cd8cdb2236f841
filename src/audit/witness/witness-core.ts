import { emptyRoot, leafHash, verifyConsistency, verifyInclusion } from '../merkle/index.js';
import { formatVerifierKey, openNote, parseCheckpointBody, rawPublicKey, type NoteVerifier } from '../note/index.js';
import { openKeyTransition, parseKeyTransition } from '../log/key-transition.js';
import { cosign, type Cosigner } from './cosignature.js';
import { parseAddCheckpoint, type AddCheckpointRequest, type PresentedTransition } from './request.js';

/** What a witness remembers of one log: the latest checkpoint it cosigned. */
export interface WitnessedLog {
  origin: string;
  size: number;
  /** Base64 root hash, as in the checkpoint. */
  root: string;
  /** The checkpoint note as the log sent it (the log's signatures are the evidence). */
  note: string;
  /** Log keys (vkeys) this witness followed to through key transitions, beside the configured ones. */
  followed?: string[];
  /** Log keys (vkeys) those transitions retired: no longer trusted, configured or not. */
  retired?: string[];
}

/** The answer to one add-checkpoint request, in the spec's own status codes. */
export type AddCheckpointOutcome =
  | { status: 200; body: string; next: WitnessedLog }
  | { status: 400 | 403 | 404 | 422; reason: string; origin?: string; evidence?: boolean }
  | { status: 409; reason: string; size: number | null; origin: string };

/** The origin line of a note, without checking anything else (to find the log and its lock). */
export function originOf(note: string): string | null {
  const nl = note.indexOf('\n');
  return nl > 0 ? note.slice(0, nl) : null;
}

/**
 * C2SP tlog-witness add-checkpoint, decided purely from the request, the keys the witness trusts
 * for the origin, and what it last cosigned. The caller holds the origin's lock from reading
 * `stored` until it has persisted `next`, so two requests cannot both move the same state.
 * Checks run in the order the spec lists them.
 */
export function decideAddCheckpoint(input: {
  body: string;
  trusted: (origin: string) => readonly NoteVerifier[] | null;
  stored: WitnessedLog | null;
  cosigners: readonly Cosigner[];
  now: number;
  parsed?: AddCheckpointRequest;
  /** The log's audit-key transitions presented with the checkpoint (Cairn's request header). */
  transitions?: readonly PresentedTransition[];
}): AddCheckpointOutcome {
  const req = input.parsed ?? parseAddCheckpoint(input.body);
  if ('malformed' in req) return { status: 400, reason: req.malformed };
  const origin = originOf(req.note);
  if (origin === null) return { status: 400, reason: 'the checkpoint has no origin line' };
  const keys = input.trusted(origin);
  // "If the checkpoint origin is unknown, the witness MUST respond with a 404 Not Found".
  if (keys === null || keys.length === 0) return { status: 404, reason: `unknown log origin ${origin}` };
  const opened = openFollowing(req.note, origin, keys, input.transitions ?? []);
  if ('status' in opened) return opened;
  const { text, follow } = opened;
  let cp;
  try {
    cp = parseCheckpointBody(text);
  } catch (err) {
    return { status: 400, reason: (err as Error).message, origin };
  }
  if (req.oldSize > cp.size)
    return { status: 400, reason: `old size ${req.oldSize} is beyond the checkpoint size ${cp.size}`, origin };
  if (follow) {
    // A transition counts only as an entry of this very tree: the log recorded the hand-over.
    for (const t of follow.used) {
      const why = transitionNotInTree(t, cp.size, cp.rootHash);
      if (why) return { status: 422, reason: why, origin, evidence: true };
    }
  }
  const known = input.stored?.size ?? 0;
  if (req.oldSize !== known) {
    return { status: 409, reason: `this witness last cosigned size ${known}, not ${req.oldSize}`, size: known, origin };
  }
  const root = cp.rootHash;
  if (cp.size === 0 && !root.equals(emptyRoot()))
    return { status: 422, reason: 'a checkpoint of size 0 must carry the empty tree root', origin, evidence: true };
  if (req.oldSize === 0) {
    if (req.proof.length > 0) return { status: 422, reason: 'the proof must be empty when old is 0', origin };
  } else {
    const oldRoot = Buffer.from(input.stored!.root, 'base64');
    if (req.oldSize === cp.size) {
      if (!oldRoot.equals(root))
        return {
          status: 409,
          reason: `a different checkpoint of size ${cp.size} was cosigned before: the log is forked`,
          size: null,
          origin,
        };
      if (req.proof.length > 0) return { status: 422, reason: 'the proof must be empty for an unchanged size', origin };
    } else if (!verifyConsistency(req.oldSize, cp.size, oldRoot, root, req.proof)) {
      return {
        status: 422,
        reason: `the consistency proof from size ${req.oldSize} does not verify: this checkpoint does not extend the one cosigned before`,
        origin,
        evidence: true,
      };
    }
  }
  const body = input.cosigners.map((c) => cosign(text, c, input.now)).join('');
  const moved = follow
    ? {
        followed: [...new Set([...(input.stored?.followed ?? []), follow.key.vkey])],
        retired: [...new Set([...(input.stored?.retired ?? []), ...follow.retired])],
      }
    : input.stored?.followed || input.stored?.retired
      ? { followed: input.stored.followed ?? [], retired: input.stored.retired ?? [] }
      : {};
  return {
    status: 200,
    body,
    next: { origin, size: cp.size, root: root.toString('base64'), note: req.note, ...moved },
  };
}

/**
 * The note's text, opened with a trusted key or, when the log has handed over, with the key its
 * presented transitions lead to (followTransitions). 403 when neither verifies, 400 for a note
 * that is not a signed note at all.
 */
function openFollowing(
  note: string,
  origin: string,
  keys: readonly NoteVerifier[],
  transitions: readonly PresentedTransition[],
): { text: string; follow: Followed | null } | { status: 400 | 403; reason: string; origin: string } {
  try {
    return { text: openNote(note, keys).text, follow: null };
  } catch (err) {
    const code = (err as { code?: string }).code;
    // "If none of the signatures verify against a trusted public key … 403 Forbidden"; a note
    // that is not a signed note at all is a bad request.
    if (code !== 'SIGNATURE_INVALID') return { status: 400, reason: (err as Error).message, origin };
  }
  // The log may have handed over to a new key: follow transitions the trusted key signed.
  const f = followTransitions(origin, keys, transitions);
  if ('refused' in f) return { status: 403, reason: f.refused, origin };
  try {
    return { text: openNote(note, [f.key]).text, follow: f };
  } catch {
    return {
      status: 403,
      reason: `no valid signature by a key trusted for ${origin} (nor by the key its transitions lead to)`,
      origin,
    };
  }
}

interface Followed {
  key: NoteVerifier & { vkey: string };
  retired: string[];
  used: PresentedTransition[];
}

/**
 * Follows presented transitions, oldest first, from a key the witness trusts: each must be signed
 * by the then-current key and countersigned by the key it names (openKeyTransition). Transitions
 * from keys the witness never trusted are passed over (they grant nothing); one that claims to
 * hand over from a trusted key but does not verify is a forgery, and refused.
 */
function followTransitions(
  origin: string,
  keys: readonly NoteVerifier[],
  presented: readonly PresentedTransition[],
): Followed | { refused: string } {
  const trusted = keys.map((k) => ({ ...k, vkey: formatVerifierKey(k.name, rawPublicKey(k.publicKey)) }));
  let current: (NoteVerifier & { vkey: string }) | null = null;
  const retired: string[] = [];
  const used: PresentedTransition[] = [];
  for (const t of [...presented].sort((a, b) => a.index - b.index)) {
    let from: string;
    try {
      const cut = t.statement.indexOf('\n\n');
      from = parseKeyTransition(cut < 0 ? t.statement : t.statement.slice(0, cut + 1)).from;
    } catch (err) {
      return { refused: `the key transition at entry ${t.index} is malformed: ${(err as Error).message}` };
    }
    const at: (NoteVerifier & { vkey: string }) | null = current
      ? current.vkey === from
        ? current
        : null
      : (trusted.find((k) => k.vkey === from) ?? null);
    if (!at) {
      if (current) return { refused: `the key transition at entry ${t.index} does not continue from ${current.vkey}` };
      continue;
    }
    try {
      current = openKeyTransition(t.statement, origin, at).next;
    } catch (err) {
      return { refused: `forged key transition at entry ${t.index}: ${(err as Error).message}` };
    }
    retired.push(at.vkey);
    used.push(t);
  }
  if (!current) return { refused: `no valid signature by a key trusted for ${origin}` };
  return { key: current, retired, used };
}

/** Why a presented transition is not the `keys.rotate` entry it claims to be in this tree, or null. */
function transitionNotInTree(t: PresentedTransition, size: number, root: Buffer): string | null {
  if (t.index >= size) return `the key transition at entry ${t.index} is beyond this checkpoint (size ${size})`;
  let ev: { index?: unknown; action?: unknown; outcome?: unknown; params?: { purpose?: unknown; statement?: unknown } };
  try {
    ev = JSON.parse(t.entry) as typeof ev;
  } catch {
    return `the entry presented for the key transition at ${t.index} is not JSON`;
  }
  if (
    ev.index !== t.index ||
    ev.action !== 'keys.rotate' ||
    ev.outcome !== 'ok' ||
    ev.params?.purpose !== 'audit' ||
    ev.params.statement !== t.statement
  )
    return `the entry presented at ${t.index} is not the keys.rotate event of this transition`;
  if (!verifyInclusion(leafHash(Buffer.from(t.entry, 'utf8')), t.index, size, t.proof, root))
    return `the inclusion proof of the key transition at entry ${t.index} does not verify: the log did not record it in this tree`;
  return null;
}
