import { CairnError } from '../core/errors.js';
import type { RemoteBackend } from './backends/port.js';
import type { OpenedRemote } from './open-remote.js';
import { parseState, type RemoteState } from './state.js';

/** docs/REMOTES.md "Layout". */
export const DESCRIPTOR_KEY = 'cairn-remote.json';
export const STATE_KEY = 'meta/state.json';
export const REMOTE_FORMAT = 'cairn.remote/v1';

/**
 * What a reader takes of the layout's objects whose size nothing records (docs/REMOTES.md
 * "Bounded reads"): a remote that sends more fails with IO_ERROR (`data.tooLarge`) having read
 * no more. The state as a team server takes it (its small objects); a push refuses to write a
 * larger one, so no honest remote holds one.
 */
export const MAX_STATE_BYTES = 256 * 1024 * 1024;
/** The descriptor, a checkpoint note, a key, a bundle's scripts: a few KiB each. */
export const MAX_SMALL_OBJECT_BYTES = 1024 * 1024;

export function packKey(id: string): string {
  return `packs/${id.slice(0, 2)}/${id}.pack`;
}

export function auditPrefix(workspaceId: string): string {
  return `audit/${workspaceId}/`;
}

/**
 * The latest checkpoint of a workspace's log that was pushed here: every remote is a witness of
 * the log, and a later push must extend it (docs/REMOTES.md "Layout", docs/AUDIT.md §3).
 */
export function auditCheckpointKey(workspaceId: string): string {
  return `${auditPrefix(workspaceId)}checkpoint`;
}

/**
 * The last checkpoint of `workspaceId`'s log this remote holds: the one the last push left
 * (`audit/<id>/checkpoint`), or for a remote written before that existed, the bundle's note at
 * the size the state records. Null when the log was never pushed here.
 */
export async function readRemoteCheckpoint(
  b: RemoteBackend,
  workspaceId: string,
  state: RemoteState | null,
): Promise<string | null> {
  const tryGet = async (key: string) => {
    try {
      return (await b.get(key, { maxBytes: MAX_SMALL_OBJECT_BYTES })).toString('utf8');
    } catch (err) {
      if (err instanceof CairnError && err.code === 'NOT_FOUND') return null;
      throw err;
    }
  };
  const kept = await tryGet(auditCheckpointKey(workspaceId));
  if (kept !== null) return kept;
  const entry = state?.audit.find((a) => a.workspace === workspaceId);
  return entry ? tryGet(`${auditPrefix(workspaceId)}checkpoints/${String(entry.size).padStart(12, '0')}.note`) : null;
}

export interface Descriptor {
  format: typeof REMOTE_FORMAT;
  created: string;
  encryption: null | { alg: 'AES-256-GCM'; kdf: 'HKDF-SHA256'; names: 'HMAC-SHA256'; keyId: string };
}

/**
 * Reads the remote's descriptor (always plain text: it says how to read the rest) and checks
 * that this client's encryption matches; `create` writes it for a first push.
 */
export async function checkDescriptor(r: OpenedRemote, create: { now: string } | null): Promise<Descriptor> {
  let d: Descriptor | null = null;
  try {
    d = JSON.parse(
      (await r.plain.get(DESCRIPTOR_KEY, { maxBytes: MAX_SMALL_OBJECT_BYTES })).toString('utf8'),
    ) as Descriptor;
  } catch (err) {
    if (!(err instanceof CairnError && err.code === 'NOT_FOUND')) {
      if (err instanceof SyntaxError)
        throw new CairnError('CORRUPT_OBJECT', `${r.plain.url}/${DESCRIPTOR_KEY} is not JSON`);
      throw err;
    }
  }
  if (!d) {
    if (!create)
      throw new CairnError('NOT_FOUND', `${r.plain.url} holds no Cairn remote (no ${DESCRIPTOR_KEY})`, {
        hint: 'push to it first (cairn push), or check the URL',
      });
    d = {
      format: REMOTE_FORMAT,
      created: create.now,
      encryption: r.keyId ? { alg: 'AES-256-GCM', kdf: 'HKDF-SHA256', names: 'HMAC-SHA256', keyId: r.keyId } : null,
    };
    await r.plain.put(DESCRIPTOR_KEY, Buffer.from(`${JSON.stringify(d, null, 2)}\n`));
    return d;
  }
  if (d.format !== REMOTE_FORMAT)
    throw new CairnError(
      'UNSUPPORTED',
      `${r.plain.url} has remote format ${JSON.stringify(d.format)}; this Cairn reads ${REMOTE_FORMAT}`,
      { hint: 'upgrade Cairn' },
    );
  const theirs = d.encryption?.keyId ?? null;
  if (theirs !== r.keyId) {
    if (theirs && !r.keyId)
      throw new CairnError(
        'USAGE',
        `${r.plain.url} is encrypted (key ${theirs}); this remote is configured without a key`,
        { hint: 'add it with --encrypt --key-file <backup of that key>' },
      );
    if (!theirs)
      throw new CairnError(
        'USAGE',
        `${r.plain.url} holds unencrypted data; an encrypted remote needs a location of its own`,
        { hint: 'choose another prefix or path for the encrypted remote' },
      );
    throw new CairnError(
      'PERMISSION_DENIED',
      `${r.plain.url} is encrypted with key ${theirs}, not with this workspace's key ${r.keyId}`,
      { hint: 'restore the right key: cairn remote add <name> <url> --encrypt --key-file <backup>' },
    );
  }
  return d;
}

export async function readState(b: RemoteBackend): Promise<RemoteState | null> {
  try {
    return parseState(await b.get(STATE_KEY, { maxBytes: MAX_STATE_BYTES }));
  } catch (err) {
    if (err instanceof CairnError && err.code === 'NOT_FOUND') return null;
    throw err;
  }
}

/** Refuses (LIMIT_EXCEEDED, nothing written) a state no reader would take: the push would succeed and every pull fail. */
export async function writeState(b: RemoteBackend, s: RemoteState): Promise<void> {
  const body = Buffer.from(`${JSON.stringify(s)}\n`);
  if (body.length > MAX_STATE_BYTES)
    throw new CairnError(
      'LIMIT_EXCEEDED',
      `the remote state would be ${body.length} bytes, more than the ${MAX_STATE_BYTES} a pull reads; it was not written`,
      {
        hint: 'push to a fresh remote (or prefix) per project, so each state holds fewer versions and runs',
        data: { bytes: body.length, maxBytes: MAX_STATE_BYTES },
      },
    );
  await b.put(STATE_KEY, body);
}
