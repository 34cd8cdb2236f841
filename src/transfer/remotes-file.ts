import { CairnError } from '../core/errors.js';
import { endpointProblem, parseRemoteUrl } from './remote-url.js';

export interface RemoteConfig {
  url: string;
  /** S3: a custom endpoint (MinIO, Ceph, a test server); path-style addressing is then used. */
  endpoint?: string;
  region?: string;
  /** Set when objects are encrypted client-side: the id of the key in .cairn/keys/remotes/. */
  keyId?: string;
  /** Parallel transfers (default 4). */
  jobs?: number;
  /** Bytes per second over all transfers; absent = unlimited. */
  bwlimit?: number;
  /** SSH: private key and known_hosts files (default: ~/.ssh, as OpenSSH does). */
  identityFile?: string;
  knownHosts?: string;
}

export interface RemotesFile {
  version: 1;
  default?: string;
  remotes: Record<string, RemoteConfig>;
}

const text = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= 4096;
const count = (min: number, max: number) => (v: unknown) =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
const FIELDS: Record<keyof RemoteConfig, { ok: (v: unknown) => boolean; want: string }> = {
  url: { ok: text, want: 'a URL' },
  // A file written before endpoints were checked (or edited by hand) may hold credentials.
  endpoint: {
    ok: (v) => text(v) && endpointProblem(v as string) === null,
    want: 'an http(s) URL without credentials, query or fragment (keys come from the AWS credential chain)',
  },
  region: { ok: text, want: 'a region name' },
  keyId: { ok: (v) => typeof v === 'string' && /^[0-9a-f]{32}$/.test(v), want: '32 hex digits' },
  jobs: { ok: count(1, 64), want: 'a whole number from 1 to 64' },
  bwlimit: { ok: count(1, Number.MAX_SAFE_INTEGER), want: 'bytes per second' },
  identityFile: { ok: text, want: 'a path' },
  knownHosts: { ok: text, want: 'a path' },
};

/** Every problem at once, with its key path (as config.json is checked). */
function validate(raw: unknown): string[] {
  const problems: string[] = [];
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return ['(root): expected an object'];
  const o = raw as Record<string, unknown>;
  if (o.version !== 1) problems.push('version: expected 1');
  for (const k of Object.keys(o))
    if (!['version', 'default', 'remotes'].includes(k)) problems.push(`${k}: unknown key`);
  if (o.default !== undefined && typeof o.default !== 'string') problems.push('default: expected a remote name');
  if (!o.remotes || typeof o.remotes !== 'object' || Array.isArray(o.remotes))
    return [...problems, 'remotes: expected an object'];
  for (const [name, r] of Object.entries(o.remotes as Record<string, unknown>)) {
    if (!r || typeof r !== 'object' || Array.isArray(r)) {
      problems.push(`remotes.${name}: expected an object`);
      continue;
    }
    const rr = r as Record<string, unknown>;
    if (rr.url === undefined) problems.push(`remotes.${name}.url: required`);
    for (const [k, v] of Object.entries(rr)) {
      const f = FIELDS[k as keyof RemoteConfig];
      if (!f) problems.push(`remotes.${name}.${k}: unknown key`);
      else if (!f.ok(v)) problems.push(`remotes.${name}.${k}: expected ${f.want}`);
    }
  }
  return problems;
}

export function checkRemoteName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw new CairnError('INVALID_NAME', `${JSON.stringify(name)} is not a valid remote name`, {
      hint: 'use letters, digits, ".", "_" and "-" (e.g. origin, hpc, s3-backup)',
    });
  }
  return name;
}

/**
 * The contents of `.cairn/remotes.json` (no secrets: keys live in keys/remotes/), checked: every
 * problem at once. Pure: app/ reads and writes the file and hands the remotes over as a port.
 */
export function parseRemotesFile(raw: unknown, path: string): RemotesFile {
  const problems = validate(raw);
  if (problems.length)
    throw new CairnError('CONFIG_INVALID', `${path} is invalid:\n  ${problems.join('\n  ')}`, {
      data: { problems },
      hint: 'see docs/REMOTES.md',
    });
  const file = raw as RemotesFile;
  for (const [name, c] of Object.entries(file.remotes)) {
    checkRemoteName(name);
    parseRemoteUrl(c.url);
  }
  return file;
}

/** The file's text as it is written (owner-only: it names hosts, buckets and key files). */
export function formatRemotesFile(file: RemotesFile): string {
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** The named remote, or the default one (the only one, when there is just one). */
export function pickRemote(file: RemotesFile, name?: string): { name: string; config: RemoteConfig } {
  const names = Object.keys(file.remotes);
  const chosen = name ?? file.default ?? (names.length === 1 ? names[0] : undefined);
  if (!chosen) {
    throw new CairnError(
      'USAGE',
      names.length
        ? `more than one remote and no default: name one with --remote (${names.join(', ')})`
        : 'this workspace has no remote',
      {
        hint: names.length
          ? 'or set one: cairn remote default <name>'
          : 'add one: cairn remote add origin s3://bucket/prefix',
      },
    );
  }
  const config = file.remotes[chosen];
  if (!config)
    throw new CairnError('NOT_FOUND', `no remote named ${JSON.stringify(chosen)}`, {
      hint: names.length ? `remotes: ${names.join(', ')}` : 'add one with cairn remote add',
    });
  return { name: chosen, config };
}
