import { promises as fsp } from 'node:fs';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, Client, ConnectConfig, SFTPWrapper, ServerHostKeyAlgorithm } from 'ssh2';
import { CairnError, ioError } from '../../../core/errors.js';
import {
  fingerprint,
  knownHostsName,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
  verifyHostKey,
} from './known-hosts.js';
import type { HostKeyVerdict, KnownHostEntry } from './known-hosts.js';

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  /** Private keys to offer, in order. */
  identityFiles: string[];
  /** Whether identityFiles came from the user (a missing one is then an error, not a skip). */
  identityExplicit: boolean;
  /** Null when nobody named one (app/ passes ~/.ssh/known_hosts): connecting is then refused. */
  knownHostsFile: string | null;
  agent: string | undefined;
  timeoutMs: number;
  /** For messages: ssh://user@host:port/root. */
  url: string;
}

/** One SSH connection with its SFTP channel; `alive` turns false once either goes away. */
export interface SshSession {
  readonly client: Client;
  readonly sftp: SFTPWrapper;
  alive: boolean;
  /** Set by end(): what fails afterwards was stopped on purpose, not dropped by the network. */
  endedByUs: boolean;
  /** Closes on purpose (the owner's close()). */
  end(): void;
  /** Abandons a connection that looks broken, so the next operation opens a new one. */
  drop(): void;
}

async function readKnownHosts(file: string): Promise<KnownHostEntry[]> {
  try {
    return parseKnownHosts(await fsp.readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError(err, 'read the known_hosts file', file);
  }
}

async function authMethods(t: SshTarget): Promise<{ methods: AnyAuthMethod[]; tried: string[]; skipped: string[] }> {
  const methods: AnyAuthMethod[] = [];
  const tried: string[] = [];
  const skipped: string[] = [];
  if (t.agent) {
    methods.push({ type: 'agent', username: t.username, agent: t.agent });
    tried.push(`the agent at ${t.agent}`);
  }
  for (const file of t.identityFiles) {
    let key: Buffer;
    try {
      key = await fsp.readFile(file);
    } catch (err) {
      if (t.identityExplicit) throw ioError(err, 'read the SSH key', file);
      continue;
    }
    const parsed = ssh2.utils.parseKey(key);
    if (parsed instanceof Error) {
      // Nobody is there to type a passphrase; an agent is the way to use such a key.
      skipped.push(
        `${file} (${/passphrase/i.test(parsed.message) ? 'needs a passphrase; load it into ssh-agent' : parsed.message})`,
      );
      continue;
    }
    methods.push({ type: 'publickey', username: t.username, key });
    tried.push(file);
  }
  return { methods, tried, skipped };
}

function hostKeyError(
  t: SshTarget & { knownHostsFile: string },
  name: string,
  offered: Buffer,
  verdict: Exclude<HostKeyVerdict, { status: 'ok' }>,
): CairnError {
  const where = `${t.host}:${t.port}`;
  const scan = `ssh-keyscan -p ${t.port} ${t.host} >> ${t.knownHostsFile}`;
  const data = { host: t.host, port: t.port, fingerprint: fingerprint(offered), knownHostsFile: t.knownHostsFile };
  if (verdict.status === 'unknown') {
    const other = verdict.otherTypes.length
      ? ` (it lists ${verdict.otherTypes.join(', ')} keys for ${name}, not this type)`
      : '';
    return new CairnError(
      'PERMISSION_DENIED',
      `the SSH host key of ${where} (${fingerprint(offered)}) is not in ${t.knownHostsFile}${other}; refusing to connect to an unverified host`,
      {
        data,
        hint: `check the fingerprint with the server's administrator, then add it: ${scan}`,
      },
    );
  }
  const lines = verdict.status === 'revoked' ? [verdict.line] : verdict.lines;
  const what = verdict.status === 'revoked' ? 'is marked @revoked' : 'has CHANGED: it differs from the one recorded';
  return new CairnError(
    'PERMISSION_DENIED',
    `the SSH host key of ${where} (${fingerprint(offered)}) ${what} in ${t.knownHostsFile} line ${lines.join(', ')}; this may be an attack (or the server was reinstalled)`,
    {
      data,
      hint: `if the change is expected, remove the old entry with ssh-keygen -R '${name}' -f ${t.knownHostsFile}, then add the new key: ${scan}`,
    },
  );
}

type Auth = Awaited<ReturnType<typeof authMethods>>;

function noKeyError(t: SshTarget, auth: Auth): CairnError {
  const why = auth.skipped.length
    ? `skipped ${auth.skipped.join(', ')}`
    : `looked for ${t.identityFiles.join(', ')}${t.agent ? '' : ' and SSH_AUTH_SOCK'}`;
  return new CairnError('PERMISSION_DENIED', `no SSH key or agent to log in to ${t.url} with (${why})`, {
    data: { host: t.host, port: t.port },
    hint: 'create a key with ssh-keygen -t ed25519, name one with identityFile, or start ssh-agent (SSH_AUTH_SOCK)',
  });
}

function loginRefused(t: SshTarget, auth: Auth, err: unknown): CairnError {
  const why = auth.skipped.length ? ` (skipped ${auth.skipped.join(', ')})` : '';
  return new CairnError(
    'PERMISSION_DENIED',
    `${t.url} refused the SSH login as ${t.username}; tried ${auth.tried.join(', ')}${why}`,
    {
      data: { host: t.host, port: t.port, username: t.username },
      hint: `check that the public key is in ~${t.username}/.ssh/authorized_keys on ${t.host}, or name another key with identityFile`,
      cause: err,
    },
  );
}

/** What ssh2 is given: the login methods, and a host verifier that records why it refused a key. */
function connectConfig(
  t: SshTarget & { knownHostsFile: string },
  auth: Auth,
  known: KnownHostEntry[],
  refuse: (err: CairnError) => void,
): ConnectConfig {
  const name = knownHostsName(t.host, t.port);
  return {
    host: t.host,
    port: t.port,
    username: t.username,
    readyTimeout: t.timeoutMs,
    // A peer that vanishes without a FIN would otherwise hang every request forever.
    keepaliveInterval: Math.max(1000, Math.floor(t.timeoutMs / 4)),
    keepaliveCountMax: 3,
    authHandler: auth.methods,
    algorithms: { serverHostKey: preferredHostKeyAlgorithms(known, name) as ServerHostKeyAlgorithm[] },
    hostVerifier: (key: Buffer) => {
      const verdict = verifyHostKey(known, name, key);
      if (verdict.status === 'ok') return true;
      refuse(hostKeyError(t, name, key, verdict));
      return false;
    },
  };
}

/**
 * Connects, verifies the host key against known_hosts, logs in and opens the SFTP channel.
 * `onGone` runs once when the connection or the channel closes, so the owner can forget it.
 */
export async function openSession(t: SshTarget, onGone: () => void): Promise<SshSession> {
  const knownHostsFile = t.knownHostsFile;
  if (!knownHostsFile)
    throw new CairnError('USAGE', `no known_hosts file to check the host key of ${t.url} against`, {
      hint: 'name one with knownHosts (--known-hosts)',
    });
  const known = await readKnownHosts(knownHostsFile);
  const auth = await authMethods(t);
  if (auth.methods.length === 0) throw noKeyError(t, auth);
  let refusal: CairnError | null = null;
  const config = connectConfig({ ...t, knownHostsFile }, auth, known, (err) => (refusal = err));
  return connect(t, config, auth, () => refusal, onGone);
}

function connect(
  t: SshTarget,
  config: ConnectConfig,
  auth: Auth,
  refusal: () => CairnError | null,
  onGone: () => void,
): Promise<SshSession> {
  return new Promise<SshSession>((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    let session: SshSession | null = null;
    const gone = () => {
      if (session?.alive) {
        session.alive = false;
        onGone();
      }
    };
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      client.end();
      const refused = refusal();
      if (refused) return reject(refused);
      if ((err as { level?: string }).level === 'client-authentication') return reject(loginRefused(t, auth, err));
      reject(err);
    };
    // ssh2 emits 'error' for every failure; without a listener Node would crash the process.
    client.on('error', (err: Error & { level?: string }) => {
      // A dead agent (a stale SSH_AUTH_SOCK) is not fatal: ssh2 goes on to the key files, as ssh does.
      if (err.level === 'agent') {
        const i = auth.tried.indexOf(`the agent at ${t.agent}`);
        if (i >= 0) auth.tried.splice(i, 1);
        auth.skipped.push(`the agent at ${t.agent} (${err.message})`);
        return;
      }
      if (settled) gone();
      else fail(err);
    });
    client.on('close', () =>
      settled
        ? gone()
        : fail(Object.assign(new Error(`${t.url} closed the connection during login`), { code: 'ECONNRESET' })),
    );
    client.once('ready', () => {
      client.sftp((err, sftp) => {
        if (err) return fail(err);
        settled = true;
        session = sessionOf(client, sftp, gone);
        resolve(session);
      });
    });
    client.connect(config);
  });
}

function sessionOf(client: Client, sftp: SFTPWrapper, gone: () => void): SshSession {
  const session: SshSession = {
    client,
    sftp,
    alive: true,
    endedByUs: false,
    end() {
      this.endedByUs = true;
      gone();
      client.end();
    },
    drop() {
      gone();
      client.destroy();
    },
  };
  sftp.on('error', gone);
  sftp.on('close', gone);
  return session;
}
