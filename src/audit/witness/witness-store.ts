import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from '../../core/digest.js';
import { CairnError } from '../../core/errors.js';
import { writeFileAtomic } from '../../storage/objects/durable.js';
import { formatVerifierKey, parseVerifierKey, rawPublicKey, type NoteVerifier } from '../note/index.js';
import type { Cosigner } from './cosignature.js';
import { decideAddCheckpoint, originOf, type AddCheckpointOutcome, type WitnessedLog } from './witness-core.js';
import { parseAddCheckpoint, parseTransitionHeader } from './request.js';

/**
 * A witness's memory on disk: one file per log origin (named by the origin's SHA-256, so any
 * origin is a safe file name) holding the latest checkpoint it cosigned, replaced atomically
 * (temporary file, fsync, rename, fsync of the folder) before the cosignature is returned.
 * Requests for one origin run one at a time: the check of the old size and the write of the
 * new state must not interleave (the roll-back race the spec describes).
 */
export class WitnessState {
  readonly #dir: string;
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(dataDir: string) {
    this.#dir = dataDir;
  }

  #file(origin: string): string {
    return join(this.#dir, 'logs', `${sha256Hex(origin)}.json`);
  }

  async read(origin: string): Promise<WitnessedLog | null> {
    let text: string;
    try {
      text = await fsp.readFile(this.#file(origin), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const s = JSON.parse(text) as WitnessedLog;
    if (s.origin !== origin || !Number.isSafeInteger(s.size))
      throw new CairnError('CONFIG_INVALID', `the witness state ${this.#file(origin)} is damaged`);
    return s;
  }

  async write(state: WitnessedLog): Promise<void> {
    await writeFileAtomic(this.#file(state.origin), `${JSON.stringify(state)}\n`);
  }

  /** Keeps a refused request that carried a valid log signature: it may prove the log misbehaved. */
  async keepEvidence(origin: string, body: string, reason: string): Promise<void> {
    const dir = join(this.#dir, 'evidence', sha256Hex(origin));
    const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}.txt`;
    await writeFileAtomic(join(dir, name), `# ${reason}\n${body}`);
  }

  /** Runs `fn` after every earlier call for `origin` has finished. */
  async serialised<T>(origin: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(origin) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.#locks.set(origin, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(origin) === tail) this.#locks.delete(origin);
    }
  }
}

/** A witness: the pure decision around its state on disk. */
export class Witness {
  readonly state: WitnessState;
  readonly #cosigners: readonly Cosigner[];
  readonly #trusted: (origin: string) => readonly NoteVerifier[] | null;
  readonly #now: () => number;

  constructor(opts: {
    dataDir: string;
    cosigner: Cosigner;
    trusted: (origin: string) => readonly NoteVerifier[] | null;
    now?: () => number;
  }) {
    this.state = new WitnessState(opts.dataDir);
    this.#cosigners = [opts.cosigner];
    this.#trusted = opts.trusted;
    this.#now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** `transitionHeader`: the request's cairn-key-transition header, when it has one. */
  async addCheckpoint(body: string, transitionHeader?: string): Promise<AddCheckpointOutcome> {
    const parsed = parseAddCheckpoint(body);
    if ('malformed' in parsed) return { status: 400, reason: parsed.malformed };
    const presented = parseTransitionHeader(transitionHeader);
    if ('malformed' in presented) return { status: 400, reason: presented.malformed };
    const origin = originOf(parsed.note);
    if (origin === null) return { status: 400, reason: 'the checkpoint has no origin line' };
    return this.state.serialised(origin, async () => {
      const configured = this.#trusted(origin);
      const stored = configured ? await this.state.read(origin) : null;
      const out = decideAddCheckpoint({
        body,
        parsed,
        trusted: (o) => (o === origin && configured ? currentKeys(configured, stored) : this.#trusted(o)),
        stored,
        cosigners: this.#cosigners,
        now: this.#now(),
        transitions: presented,
      });
      if (out.status === 200) {
        // Only a size or key that moved needs writing; the same checkpoint again is cosigned as it stands.
        const keysMoved = (out.next.followed ?? []).length !== (stored?.followed ?? []).length;
        if (!stored || stored.size !== out.next.size || keysMoved) await this.state.write(out.next);
      } else if ((out.status === 422 && out.evidence) || (out.status === 409 && out.size === null)) {
        await this.state.keepEvidence(origin, body, out.reason).catch(() => {});
      }
      return out;
    });
  }
}

/**
 * The keys a witness trusts for a log now: the configured ones and those it followed through
 * key transitions, less the ones those transitions retired (a retired key's checkpoints are refused).
 */
function currentKeys(configured: readonly NoteVerifier[], stored: WitnessedLog | null): NoteVerifier[] {
  const retired = new Set(stored?.retired ?? []);
  const keys = configured.filter((k) => !retired.has(formatVerifierKey(k.name, rawPublicKey(k.publicKey))));
  for (const vkey of stored?.followed ?? []) {
    if (retired.has(vkey)) continue;
    const k = parseVerifierKey(vkey);
    keys.push({ name: k.name, keyId: k.keyId, publicKey: k.publicKey });
  }
  return keys;
}
