import { emptyRoot, verifyConsistency } from '../merkle/index.js';
import { openNote, parseCheckpointBody, type NoteVerifier } from '../note/index.js';
import { cosign, type Cosigner } from './cosignature.js';
import { parseAddCheckpoint, type AddCheckpointRequest } from './request.js';

/** What a witness remembers of one log: the latest checkpoint it cosigned. */
export interface WitnessedLog {
  origin: string;
  size: number;
  /** Base64 root hash, as in the checkpoint. */
  root: string;
  /** The checkpoint note as the log sent it (the log's signatures are the evidence). */
  note: string;
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
}): AddCheckpointOutcome {
  const req = input.parsed ?? parseAddCheckpoint(input.body);
  if ('malformed' in req) return { status: 400, reason: req.malformed };
  const origin = originOf(req.note);
  if (origin === null) return { status: 400, reason: 'the checkpoint has no origin line' };
  const keys = input.trusted(origin);
  // "If the checkpoint origin is unknown, the witness MUST respond with a 404 Not Found".
  if (keys === null || keys.length === 0) return { status: 404, reason: `unknown log origin ${origin}` };
  let text: string;
  try {
    text = openNote(req.note, keys).text;
  } catch (err) {
    const code = (err as { code?: string }).code;
    // "If none of the signatures verify against a trusted public key … 403 Forbidden"; a note
    // that is not a signed note at all is a bad request.
    if (code === 'SIGNATURE_INVALID')
      return { status: 403, reason: `no valid signature by a key trusted for ${origin}`, origin };
    return { status: 400, reason: (err as Error).message, origin };
  }
  let cp;
  try {
    cp = parseCheckpointBody(text);
  } catch (err) {
    return { status: 400, reason: (err as Error).message, origin };
  }
  if (req.oldSize > cp.size)
    return { status: 400, reason: `old size ${req.oldSize} is beyond the checkpoint size ${cp.size}`, origin };
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
  return {
    status: 200,
    body,
    next: { origin, size: cp.size, root: root.toString('base64'), note: req.note },
  };
}
