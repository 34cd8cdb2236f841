import { isAbsolute } from 'node:path';
import { CairnError } from '../core/errors.js';
import { redactUrl } from '../core/url-secrets.js';

export type RemoteLocation =
  | { kind: 'file'; path: string }
  | { kind: 's3'; bucket: string; prefix: string }
  | { kind: 'ssh'; host: string; port: number; user: string | null; path: string }
  /** A Cairn team server (docs/SERVER.md "Data plane"): its store, through its API. */
  | { kind: 'server'; url: string };

/**
 * Parses a remote URL: `file:///abs/path`, `s3://bucket[/prefix]`, `ssh://[user@]host[:port]/abs/path`.
 * Credentials never belong in the URL (S3 keys come from the AWS chain, SSH uses keys), so a
 * URL carrying a password is refused rather than stored in plain text.
 */
export function parseRemoteUrl(text: string): RemoteLocation {
  // The refused URL is echoed without its password: error messages end up in CI logs.
  const bad = (why: string) =>
    new CairnError('USAGE', `${JSON.stringify(redactUrl(text))} is not a remote URL: ${why}`, {
      hint: 'use file:///shared/path, s3://bucket/prefix, ssh://user@host/path or a Cairn server https://host',
    });
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw bad('it does not parse');
  }
  if (u.password) throw bad('it carries a password; use an SSH key or the AWS credential chain instead');
  if (u.search || u.hash) throw bad('query strings and fragments are not used');
  const path = decodeURIComponent(u.pathname);
  switch (u.protocol) {
    case 'file:': {
      if (u.host) throw bad('a file URL has no host (file:///abs/path)');
      if (!isAbsolute(path) || path === '/') throw bad('the path must be absolute and not the root');
      return { kind: 'file', path: path.replace(/\/+$/, '') };
    }
    case 's3:': {
      if (!u.hostname) throw bad('the bucket is missing');
      if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(u.hostname)) throw bad(`${u.hostname} is not a valid bucket name`);
      if (u.username) throw bad('an S3 URL has no user');
      return { kind: 's3', bucket: u.hostname, prefix: path.replace(/^\/+|\/+$/g, '') };
    }
    case 'ssh:':
    case 'sftp:': {
      if (!u.hostname) throw bad('the host is missing');
      if (!path || path === '/') throw bad('the remote path is missing (ssh://host/abs/path)');
      return {
        kind: 'ssh',
        host: u.hostname.replace(/^\[|\]$/g, ''),
        port: u.port ? Number(u.port) : 22,
        user: u.username ? decodeURIComponent(u.username) : null,
        path: path.replace(/\/+$/, ''),
      };
    }
    case 'http:':
    case 'https:': {
      if (u.username) throw bad('a server URL has no user; log in with `cairn login <url>`');
      return { kind: 'server', url: u.origin + u.pathname.replace(/\/+$/, '') };
    }
    default:
      throw bad(`the scheme ${u.protocol} is not supported`);
  }
}

/**
 * Why an S3 endpoint (MinIO, Ceph, a test server) is not usable, or null: it must be http(s),
 * with no user or password (keys come from the AWS credential chain, as for the remote URL)
 * and no query or fragment. The endpoint is stored in remotes.json and recorded in the signed
 * audit log, so a credential in it would be kept in plain text and pushed to every remote.
 */
export function endpointProblem(text: string): string | null {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return 'it does not parse as a URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'it must be an http(s) URL';
  if (u.username || u.password) return 'it carries credentials (user:password@); credentials never go in a URL';
  if (u.search || u.hash) return 'query strings and fragments are not used (they may carry credentials)';
  if (!u.hostname) return 'the host is missing';
  return null;
}

export function checkEndpointUrl(text: string): string {
  const why = endpointProblem(text);
  if (why) {
    throw new CairnError('USAGE', `--endpoint ${shownWithoutSecrets(text)} is not usable: ${why}`, {
      hint: 'give the endpoint without credentials (e.g. http://minio:9000) and the keys through AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or an AWS profile',
    });
  }
  return text;
}

/** Scheme, host and path only: the parts of a refused URL that can be echoed safely. */
function shownWithoutSecrets(text: string): string {
  try {
    const u = new URL(text);
    return JSON.stringify(`${u.protocol}//${u.host}${u.pathname}`);
  } catch {
    return '(not a URL)';
  }
}
