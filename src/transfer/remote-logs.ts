import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { verifyBundle } from '../audit/export/bundle.js';
import { Frontier, leafHashOfText } from '../audit/merkle/index.js';
import { CairnError } from '../core/errors.js';
import { assertKey } from './backends/keys.js';
import type { RemoteBackend } from './backends/port.js';
import { DEFAULT_MAX_GET_BYTES } from './backends/port.js';
import { auditPrefix, MAX_SMALL_OBJECT_BYTES } from './remote-layout.js';
import type { RemoteState } from './state.js';
import { collectVouchers, type Vouchers } from './vouch.js';
import { collectRunVouchers, type RunVouchers } from './vouch-runs.js';
import { collectEdgeVouchers, type EdgeVouchers } from './vouch-edges.js';
import { collectEvaluationVouchers, type EvaluationVouchers } from './vouch-evaluations.js';
import { collectErasureVouchers, type ErasureVouchers } from './vouch-erasures.js';

export interface VerifiedRemoteLog {
  workspace: string;
  /** The log's origin, as its verifier key names it. */
  origin: string;
  size: number;
  /** Hex root hash of the verified entries. */
  root: string;
  verifierKey: string;
  /** Whether this pull found it unchanged since it was last verified here. */
  cached: boolean;
}

/** Written beside a bundle once it verified: what the next pull must find extended, by the same key. */
const VERIFIED_FILE = 'verified.json';
interface Pin {
  workspace: string;
  origin: string;
  size: number;
  root: string;
  verifierKey: string;
}

/**
 * Downloads and verifies the audit log of every workspace that pushed to the remote (except
 * this workspace's own), and collects the events that vouch for versions. Each verified bundle
 * is kept under `.cairn/remote-audit/<remote>/<workspace>/` and pinned: a later pull refuses a
 * log of the same workspace signed by another key, or one that no longer extends what was
 * verified before (a remote whose history was rewritten). Throws CHECK_FAILED, before anything
 * is imported, when a log does not verify.
 */
/** The verified logs and what their events vouch for: versions and model versions, runs, evaluations. */
export interface LogVouchers {
  logs: VerifiedRemoteLog[];
  vouchers: Vouchers;
  runVouchers: RunVouchers;
  edgeVouchers: EdgeVouchers;
  evaluationVouchers: EvaluationVouchers;
  /** Root digests whose erasure a verified event vouches for (a pull takes no pack list's word for it). */
  erasureVouchers: ErasureVouchers;
}

export async function fetchVerifiedLogs(
  b: RemoteBackend,
  opts: { cairnDir: string; remoteName: string; remoteUrl: string; ownWorkspace: string; state: RemoteState },
): Promise<LogVouchers> {
  const logs: VerifiedRemoteLog[] = [];
  const vouchers: Vouchers = new Map();
  const runVouchers: RunVouchers = new Map();
  const edgeVouchers: EdgeVouchers = new Set();
  const evaluationVouchers: EvaluationVouchers = new Map();
  const erasureVouchers: ErasureVouchers = new Map();
  for (const a of opts.state.audit) {
    if (a.workspace === opts.ownWorkspace) continue;
    // The name comes from the remote: it must not steer a write outside remote-audit/.
    assertKey(a.workspace);
    if (a.workspace.includes('/'))
      throw new CairnError(
        'PATH_UNSAFE',
        `the remote names an audit log ${JSON.stringify(a.workspace)}, which is not a workspace id`,
      );
    const dir = join(opts.cairnDir, 'remote-audit', assertKey(opts.remoteName), a.workspace);
    const pin = readPin(dir);
    const fail = (why: string, data: Record<string, unknown> = {}) =>
      new CairnError('CHECK_FAILED', `the audit log of workspace ${a.workspace} on ${opts.remoteUrl} ${why}`, {
        data: { workspace: a.workspace, ...data },
        hint: 'the remote was tampered with or damaged; nothing was imported',
      });
    let entries: string[];
    let log: VerifiedRemoteLog;
    if (pin && pin.size === a.size && pin.root === a.root && existsSync(join(dir, 'entries.jsonl'))) {
      // Verified when it arrived and unchanged since: this workspace's own copy is what counts.
      entries = readEntries(dir);
      log = { ...pin, cached: true };
    } else {
      const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
      try {
        await downloadBundle(b, auditPrefix(a.workspace), tmp);
        const report = await verifyBundle(tmp);
        if (!report.ok)
          throw fail(`does not verify${report.firstBad ? `: ${report.firstBad.message}` : ''}`, {
            problems: report.problems.slice(0, 10),
          });
        entries = readEntries(tmp);
        const verifierKey = readFileSync(join(tmp, 'public-key.vkey'), 'utf8').trim();
        const origin = verifierKey.split('+')[0]!;
        // The state may lag the bundle (a push uploads the log before it updates the state),
        // never lead it: what the state records must be a prefix of what verified.
        if (report.size < a.size || rootOf(entries, a.size) !== a.root)
          throw fail('is not the one the remote state records (its root differs)');
        if (pin) {
          if (pin.verifierKey !== verifierKey)
            throw fail(
              `is now signed by another key (${verifierKey}) than when this workspace verified it before (${pin.verifierKey})`,
              { pinned: pin.verifierKey },
            );
          if (report.size < pin.size || rootOf(entries, pin.size) !== pin.root) {
            throw fail(
              `no longer extends what this workspace verified before (${pin.size} entries, root ${pin.root.slice(0, 16)}…): its history was rewritten`,
              { pinned: { size: pin.size, root: pin.root } },
            );
          }
        }
        log = { workspace: a.workspace, origin, size: report.size, root: report.root, verifierKey, cached: false };
        const { cached: _cached, ...next } = log;
        writeFileSync(join(tmp, VERIFIED_FILE), `${JSON.stringify(next, null, 2)}\n`);
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dirname(dir), { recursive: true });
        renameSync(tmp, dir);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
    collectVouchers(vouchers, { workspace: a.workspace, origin: log.origin }, entries);
    collectRunVouchers(runVouchers, { workspace: a.workspace, origin: log.origin }, entries);
    collectEdgeVouchers(edgeVouchers, { workspace: a.workspace }, entries);
    collectEvaluationVouchers(evaluationVouchers, { workspace: a.workspace, origin: log.origin }, entries);
    collectErasureVouchers(erasureVouchers, { workspace: a.workspace, origin: log.origin }, entries);
    logs.push(log);
  }
  return { logs, vouchers, runVouchers, edgeVouchers, evaluationVouchers, erasureVouchers };
}

function readPin(dir: string): Pin | null {
  try {
    const p = JSON.parse(readFileSync(join(dir, VERIFIED_FILE), 'utf8')) as Pin;
    return typeof p.verifierKey === 'string' && Number.isSafeInteger(p.size) && typeof p.root === 'string' ? p : null;
  } catch {
    return null;
  }
}

function readEntries(dir: string): string[] {
  const text = readFileSync(join(dir, 'entries.jsonl'), 'utf8');
  return text.length ? text.replace(/\n$/, '').split('\n') : [];
}

/** A withheld entry of a team server's redacted bundle: its leaf hash, which the roots bind. */
const REDACTED = /^#redacted ([0-9a-f]{64})$/;

/** Hex MTH of the first `size` entries (a redacted one counts as the leaf hash it carries). */
function rootOf(entries: readonly string[], size: number): string {
  const f = new Frontier();
  for (let i = 0; i < size && i < entries.length; i++) {
    const withheld = REDACTED.exec(entries[i]!);
    f.append(withheld ? Buffer.from(withheld[1]!, 'hex') : leafHashOfText(entries[i]!));
  }
  return f.size === size ? f.root().toString('hex') : '';
}

/**
 * What one audit bundle may cost its reader (nothing records a bundle's bytes): its file list up
 * to 64 MiB (a name per checkpoint: about 30 bytes each), its entries and proofs up to 2 GiB each,
 * every other file (checkpoint notes, keys, scripts, log.json) up to 1 MiB, and all of it together
 * up to 4 GiB, so a remote that lists a million files or sends endless ones is stopped at the
 * bound, having written no more than that under a temporary folder that is then removed.
 */
const MAX_FILE_LIST_BYTES = 64 * 1024 * 1024;
const MAX_BUNDLE_BYTES = 4 * 1024 * 1024 * 1024;
const LARGE_BUNDLE_FILE = /^(entries\.jsonl|proofs\/[^/]+\.jsonl)$/;

/** Downloads an audit bundle by its file list (an encrypted remote cannot be listed). */
async function downloadBundle(b: RemoteBackend, prefix: string, dir: string): Promise<void> {
  let files: string[];
  try {
    files = JSON.parse(
      (await b.get(`${prefix}files.json`, { maxBytes: MAX_FILE_LIST_BYTES })).toString('utf8'),
    ) as string[];
  } catch (err) {
    if (err instanceof CairnError) throw err;
    throw new CairnError('CORRUPT_OBJECT', `${prefix}files.json on the remote is not a file list`);
  }
  if (!Array.isArray(files) || files.some((f) => typeof f !== 'string'))
    throw new CairnError('CORRUPT_OBJECT', `${prefix}files.json on the remote is not a file list`);
  rmSync(dir, { recursive: true, force: true });
  let left = MAX_BUNDLE_BYTES;
  for (const f of files) {
    // The list comes from the remote: a name like ../../x must not write outside the bundle.
    const rel = assertKey(f);
    const dest = join(dir, ...rel.split('/'));
    mkdirSync(dirname(dest), { recursive: true });
    const own = LARGE_BUNDLE_FILE.test(rel) ? DEFAULT_MAX_GET_BYTES : MAX_SMALL_OBJECT_BYTES;
    // Past the bundle's budget, the refusal names the budget left, which is what was exceeded.
    const body = await b.get(`${prefix}${rel}`, { maxBytes: Math.min(own, left) });
    left -= body.length;
    writeFileSync(dest, body);
  }
}
