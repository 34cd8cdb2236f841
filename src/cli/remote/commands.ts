// The remote commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, flag, text, parsed } from '../table/define.js';
import { parsePositive, parseRateOption } from '../table/parsers.js';

export const remoteAdd = spec({
  path: 'remote add',
  args: ['name', 'url'],
  description: 'add a remote: s3://bucket/prefix, file:///shared/path or ssh://user@host/path',
  options: {
    endpoint: text('--endpoint <url>', 'S3: a custom endpoint (MinIO, Ceph, …); path-style addressing'),
    region: text('--region <region>', 'S3: the region (default AWS_REGION or us-east-1)'),
    encrypt: flag('--encrypt', 'encrypt client-side (AES-256-GCM) with a new key kept in the workspace'),
    keyFile: text('--key-file <file>', 'encrypt with the key in this backup file (from `cairn remote key`)'),
    jobs: parsed('--jobs <n>', 'parallel transfers (default 4)', parsePositive),
    bwlimit: parsed(
      '--bwlimit <rate>',
      'bandwidth limit over all transfers, e.g. 50M or 10MiB (bytes per second)',
      parseRateOption,
    ),
    identityFile: text(
      '--identity-file <file>',
      'SSH: private key (default ~/.ssh/id_ed25519, then id_rsa, then the agent)',
    ),
    knownHosts: text('--known-hosts <file>', 'SSH: known_hosts file (default ~/.ssh/known_hosts)'),
    force: flag('--force', 'replace a remote of that name'),
  },
});

export const remoteLs = spec({
  path: 'remote ls',
  args: [],
  description: 'list remotes (* marks the default)',
  options: {},
});

export const remoteRm = spec({
  path: 'remote rm',
  args: ['name'],
  description: 'remove a remote from this workspace (its data stays)',
  options: {},
});

export const remoteDefault = spec({
  path: 'remote default',
  args: ['name'],
  description: 'make a remote the default for push and pull',
  options: {},
});

export const remoteKey = spec({
  path: 'remote key',
  args: ['name'],
  description: "print an encrypted remote's key for backup (keep it secret)",
  options: {},
});
