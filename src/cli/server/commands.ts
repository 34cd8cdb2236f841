// The team server's commands: starting it, its accounts and tokens, and logging the CLI in to it.
import { spec, flag, text, required, list } from '../table/define.js';

const dataDir = () =>
  text('--data-dir <dir>', "act on the server's data dir directly (on the server host; how the first admin is made)");

export const serverStart = spec({
  path: 'server start',
  args: [],
  description: 'serve this Cairn to a team: JSON API at /api/v1, tokens, roles, one audit log',
  options: {
    listen: text('--listen <host:port>', 'where to listen', '127.0.0.1:8080'),
    db: text(
      '--db <url>',
      'metadata database of a new data dir: sqlite (default) or postgres://user@host:port/db?schema=s',
    ),
    dataDir: text('--data-dir <dir>', "the server's data dir (keys, config, local objects)", 'cairn-server'),
    protectedAlias: list(
      '--protected-alias <alias>',
      'an alias only approvers may move (repeatable; default production)',
    ),
    bodyLimit: text('--body-limit <bytes>', 'largest request body accepted', '1048576'),
    bodyIdleTimeout: text(
      '--body-idle-timeout <seconds>',
      'a request body that sends nothing for this long is cut off (408)',
      '30',
    ),
    bodyTimeout: text(
      '--body-timeout <seconds>',
      'longest a request body may take, plus its size at 64 KiB/s (408 past it)',
      '60',
    ),
    bodyMinRate: text(
      '--body-min-rate <bytes/s>',
      'after its first 30 s, a request body slower than this over any 30 s is cut off (408; 0: no floor)',
      '1024',
    ),
    uploadMemory: text(
      '--upload-memory <bytes>',
      "request bodies the store's byte routes hold in memory at once",
      '536870912',
    ),
    uploadAccountShare: text(
      '--upload-account-share <fraction>',
      'the most of --upload-memory one account holds at once (its first upload may take more)',
      '0.5',
    ),
    writeStallTimeout: text(
      '--write-stall-timeout <seconds>',
      'an answer the client stops reading for this long has its connection closed',
      '60',
    ),
    metricsTokenFile: text(
      '--metrics-token-file <file>',
      '/metrics answers only Authorization: Bearer <the token in this file>',
    ),
    keepAliveTimeout: text('--keep-alive-timeout <seconds>', 'how long an idle keep-alive connection stays open', '72'),
    store: text(
      '--store <url>',
      "object store pushes go to: file:///dir or s3://bucket/prefix (default: the data dir's store/; kept for later starts)",
    ),
    storeEndpoint: text('--store-endpoint <url>', 'S3-compatible endpoint of an s3:// store (MinIO, Ceph, …)'),
    oidcIssuer: text('--oidc-issuer <url>', 'sign in with this OpenID Connect provider (its issuer URL)'),
    oidcClientId: text('--oidc-client-id <id>', "Cairn's client id at the provider"),
    oidcClientSecretFile: text(
      '--oidc-client-secret-file <file>',
      "the client's secret, for the browser's code exchange (or CAIRN_OIDC_CLIENT_SECRET)",
    ),
    oidcAudience: text('--oidc-audience <aud>', 'the aud a bearer token must carry (default: the client id)'),
    oidcGroupsClaim: text('--oidc-groups-claim <claim>', 'the claim with the groups grants go to', 'groups'),
    oidcUsernameClaim: text(
      '--oidc-username-claim <claim>',
      'the claim naming the account: preferred_username, email or sub',
      'preferred_username',
    ),
    oidcScopes: text('--oidc-scopes <scopes>', 'scopes to ask for (space-separated)'),
    oidcSessionRecheck: text(
      '--oidc-session-recheck <seconds>',
      "how often a browser session's groups are asked for again at the provider",
      '900',
    ),
    publicUrl: text('--public-url <url>', "the server's URL as browsers reach it (for the sign-in redirect)"),
    jobUser: text(
      '--job-user <accounts>',
      'run jobs as these OS accounts, never as the server (needs root; or CAIRN_JOB_USER). One name: every job shares it. ' +
        'Several (cairn-job-1,cairn-job-2,…): each running job gets one no other running job holds, and waits queued while all are held',
    ),
    allowRootJobs: flag(
      '--allow-root-jobs',
      'a server running as root without --job-user runs jobs as root (else refused; or CAIRN_ALLOW_ROOT_JOBS=1)',
    ),
  },
});

export const serverUserAdd = spec({
  path: 'server user add',
  args: ['name'],
  description: 'add a person (or with --service, a service account)',
  options: {
    email: text('--email <email>', 'contact address (kept out of the audit log)'),
    role: text('--role <role>', 'viewer, contributor, approver or admin (on --project, default all projects)'),
    project: text('--project <project>', 'the project the role is on (default *: all)'),
    group: list('--group <group>', 'a group the account belongs to (repeatable)'),
    service: flag('--service', 'a service account (CI, a release pipeline), not a person'),
    dataDir: dataDir(),
  },
});

export const serverUserLs = spec({
  path: 'server user ls',
  args: [],
  description: 'accounts with their groups and grants',
  options: { dataDir: dataDir() },
});

export const serverUserDisable = spec({
  path: 'server user disable',
  args: ['name'],
  description: 'disable an account: none of its tokens works any more',
  options: { dataDir: dataDir() },
});

export const serverTokenCreate = spec({
  path: 'server token create',
  args: [],
  description: 'issue an API token (printed once; only its hash is kept)',
  options: {
    user: required('--user <name>', 'the account the token acts as'),
    expires: text('--expires <time>', 'lifetime: 90d, 12h, 30m or never', '90d'),
    label: text('--label <text>', 'what the token is for'),
    dataDir: dataDir(),
  },
});

export const serverTokenLs = spec({
  path: 'server token ls',
  args: [],
  description: 'tokens (never their secrets)',
  options: { user: text('--user <name>', 'only this account'), dataDir: dataDir() },
});

export const serverTokenRevoke = spec({
  path: 'server token revoke',
  args: ['id'],
  description: 'revoke a token at once',
  options: { dataDir: dataDir() },
});

export const serverGrant = spec({
  path: 'server grant',
  args: ['subject', 'role'],
  description: 'give user:<name> or group:<name> a role (viewer, contributor, approver, admin, none) on a project',
  options: { project: text('--project <project>', 'the project (default *: all)', '*'), dataDir: dataDir() },
});

export const serverReseal = spec({
  path: 'server reseal',
  args: [],
  description:
    'replace a lost or leaked session key: seal the accounts, tokens and grants again (only if the audit log vouches for each), end browser sessions; server stopped',
  options: { dataDir: text('--data-dir <dir>', "the server's data dir (required; on the server host)") },
});

export const login = spec({
  path: 'login',
  args: ['url'],
  description: 'act on a Cairn server from now on (outside workspaces); pins its audit key',
  options: {
    token: text(
      '--token <token>',
      'an API token, or - to read it from stdin (default: CAIRN_TOKEN); a command line is visible to every user (ps)',
    ),
    oidc: flag('--oidc', "sign in with the server's OpenID Connect provider (device code: a browser approves)"),
    key: text(
      '--key <vkey>',
      "the server's audit verifier key, if you got it from an admin (else trusted on first use)",
    ),
  },
});

export const logout = spec({
  path: 'logout',
  args: ['url?'],
  description: 'forget the token of a server (default: the current one)',
  options: { all: flag('--all', 'forget every server') },
});

export const whoami = spec({
  path: 'whoami',
  args: [],
  description: 'who the server says you are',
  options: {},
});
