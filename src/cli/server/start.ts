import type { OptionsOf } from '../table/define.js';
import type { serverStart } from './commands.js';
import { startServer } from '../../server/start.js';
import type { ServerRuntime } from '../../app/server.js';
import { oidcSettings } from '../../app/oidc/index.js';
import { readFileSync } from 'node:fs';
import { CairnError } from '../../core/errors.js';
import { commandContext } from '../context.js';

export async function run(opts: OptionsOf<typeof serverStart>): Promise<void> {
  const { out } = commandContext(opts);
  const bodyLimit = Number(opts.bodyLimit);
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1024)
    throw new CairnError('USAGE', `--body-limit takes a number of bytes (at least 1024), not ${opts.bodyLimit}`);
  const oidc = oidcSettings({
    ...(opts.oidcIssuer ? { issuer: opts.oidcIssuer } : {}),
    ...(opts.oidcClientId ? { clientId: opts.oidcClientId } : {}),
    ...(opts.oidcClientSecretFile ? { clientSecretFile: opts.oidcClientSecretFile } : {}),
    ...(opts.oidcAudience ? { audience: opts.oidcAudience } : {}),
    ...(opts.oidcScopes ? { scopes: opts.oidcScopes } : {}),
    groupsClaim: opts.oidcGroupsClaim,
    usernameClaim: opts.oidcUsernameClaim,
  });
  const server = await startServer({
    oidc,
    ...(opts.publicUrl ? { publicUrl: opts.publicUrl } : {}),
    listen: opts.listen,
    dataDir: opts.dataDir,
    ...(opts.db ? { db: opts.db } : {}),
    ...(opts.store ? { store: opts.store } : {}),
    ...(opts.storeEndpoint ? { storeEndpoint: opts.storeEndpoint } : {}),
    ...(opts.jobUser ? { jobUser: opts.jobUser } : {}),
    ...(opts.allowRootJobs ? { allowRootJobs: true } : {}),
    bodyLimit,
    bodyTimeouts: {
      idleMs: seconds('--body-idle-timeout', opts.bodyIdleTimeout),
      totalMs: seconds('--body-timeout', opts.bodyTimeout),
      minRate: bounded('--body-min-rate', opts.bodyMinRate, 0, 1024 ** 3),
    },
    uploadMemory: bounded('--upload-memory', opts.uploadMemory, 1024 * 1024, 2 ** 50),
    uploadAccountShare: share(opts.uploadAccountShare),
    writeStallMs: seconds('--write-stall-timeout', opts.writeStallTimeout),
    ...(opts.metricsTokenFile ? { metricsToken: metricsToken(opts.metricsTokenFile) } : {}),
    keepAliveTimeoutMs: seconds('--keep-alive-timeout', opts.keepAliveTimeout),
    oidcSessionRecheckMs: seconds('--oidc-session-recheck', opts.oidcSessionRecheck),
    protectedAliases: opts.protectedAlias.length ? opts.protectedAlias : ['production'],
  });
  const accounts = await server.runtime.identity.accounts();
  out.result({
    url: server.url,
    origin: server.runtime.origin,
    verifierKey: server.runtime.verifierKey,
    metadata: server.runtime.dialect,
    store: server.runtime.store?.url ?? null,
    jobs: {
      user: server.runtime.jobs.jobUser?.name ?? null,
      pool: server.runtime.jobs.jobPool?.map((a) => a.name) ?? null,
      refused: server.runtime.jobs.jobsRefused?.message ?? null,
      dir: server.runtime.jobs.jobsDir ?? null,
      // 'namespaces': each local job in its own; 'none': this machine refused them (isolationReason says why).
      isolation: isolationOf(server.runtime.jobs),
      isolationReason:
        (server.runtime.jobs.isolation?.namespaces === false && server.runtime.jobs.isolation.reason) || null,
    },
  });
  out.say(`Cairn server on ${server.url} (metadata: ${server.runtime.dialect}, data dir: ${opts.dataDir})`);
  out.say(`audit log key: ${server.runtime.verifierKey}`);
  out.say(jobsLine(server.runtime.jobs));
  if (oidc)
    out.say(
      `OpenID Connect: ${oidc.issuer} (client ${oidc.clientId}); accounts from ${oidc.usernameClaim}, groups from ${oidc.groupsClaim}; browser sign-in at /auth/login`,
    );
  out.say(`API: ${server.url}/api/v1 (OpenAPI: /api/v1/openapi.json), health: /healthz /readyz, metrics: /metrics`);
  if (accounts.length === 0)
    out.say(
      `no accounts yet: cairn server user add <you> --role admin --data-dir ${opts.dataDir}\n` +
        `                then cairn server token create --user <you> --data-dir ${opts.dataDir}`,
    );
  await new Promise<void>((resolve) => {
    const stop = () => {
      out.note('cairn server: stopping (finishing requests in flight)');
      server.close().then(resolve, resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

function isolationOf(jobs: ServerRuntime['jobs']): 'namespaces' | 'none' | null {
  return jobs.isolation ? (jobs.isolation.namespaces ? 'namespaces' : 'none') : null;
}

/** What the admin must know about the jobs this server will run: as whom, or that none will run. */
function jobsLine(jobs: ServerRuntime['jobs']): string {
  if (jobs.jobsRefused) return `jobs: REFUSED: ${jobs.jobsRefused.message}; ${jobs.jobsRefused.hint}`;
  const iso = !jobs.isolation
    ? ''
    : jobs.isolation.namespaces
      ? '; local jobs each in their own PID and mount namespaces (private /tmp, /var/tmp, /dev/shm and process list)'
      : `; local jobs NOT in their own namespaces (${jobs.isolation.reason}): they share /tmp, /var/tmp, /dev/shm and the process list, see docs/SERVER.md "Each job in its own namespaces"`;
  if (jobs.jobPool)
    return `jobs: each run as its own account of ${jobs.jobPool.map((a) => a.name).join(', ')} (${jobs.jobPool.length} at a time), folders in ${jobs.jobsDir}${iso}`;
  if (jobs.jobUser)
    return `jobs: run as ${jobs.jobUser.name} (uid ${jobs.jobUser.uid}), shared by every job, folders in ${jobs.jobsDir}${iso}`;
  return `jobs: run as this server's own account (${process.getuid?.() === 0 ? 'root, as --allow-root-jobs says' : 'they can read its data dir: see docs/SERVER.md "Jobs run as their own account"'})`;
}

/** A positive number of seconds (fractions allowed), in milliseconds. */
function seconds(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400)
    throw new CairnError('USAGE', `${flag} takes a number of seconds (above 0, at most 86400), not ${value}`);
  return Math.round(n * 1000);
}

/** A whole number from `min` to `max`. */
function bounded(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new CairnError('USAGE', `${flag} takes a whole number from ${min} to ${max}, not ${value}`);
  return n;
}

/** A fraction above 0, at most 1. */
function share(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 1)
    throw new CairnError('USAGE', `--upload-account-share takes a fraction above 0 and at most 1, not ${value}`);
  return n;
}

/** The metrics token: a file's first line, long enough not to be guessed (never an argument, which `ps` shows). */
function metricsToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CairnError('USAGE', `--metrics-token-file: cannot read ${file} (${(err as NodeJS.ErrnoException).code})`);
  }
  const token = text.split('\n')[0]!.trim();
  if (token.length < 16 || /\s/.test(token))
    throw new CairnError('USAGE', `--metrics-token-file: ${file} must hold one token of at least 16 characters`, {
      hint: 'e.g. openssl rand -hex 32 > metrics-token',
    });
  return token;
}
