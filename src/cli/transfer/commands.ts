// The transfer commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, flag, list, text, parsed } from '../table/define.js';
import { parsePositive, parseRateOption } from '../table/parsers.js';

export const push = spec({
  path: 'push',
  args: ['refs...?'],
  description:
    'upload versions (all, or the refs named) with their metadata and the audit log; only missing packs move',
  options: {
    remote: text('--remote <name>', 'the remote (default: the default remote)'),
    jobs: parsed('--jobs <n>', 'parallel transfers', parsePositive),
    bwlimit: parsed('--bwlimit <rate>', 'bandwidth limit, e.g. 50M (bytes per second)', parseRateOption),
  },
});

export const pull = spec({
  path: 'pull',
  args: ['refs...?'],
  description:
    "bring a remote's metadata and the packs of versions (all, or the refs named) into the local store, verified",
  options: {
    remote: text('--remote <name>', 'the remote (default: the default remote)'),
    jobs: parsed('--jobs <n>', 'parallel transfers', parsePositive),
    bwlimit: parsed('--bwlimit <rate>', 'bandwidth limit, e.g. 50M (bytes per second)', parseRateOption),
    metadataOnly: flag('--metadata-only', 'import versions, tags and lineage; fetch no data'),
    allowUnvouchedErasures: list(
      '--allow-unvouched-erasures <name@vN,…>',
      'import these versions as metadata only although the remote lists no data for them and no log on it vouches for their erasure (a remote written by an older Cairn); recorded in the pull event',
    ),
    materialize: flag(
      '--materialize',
      'also place each named version read-only in the shared cluster cache and print its path',
    ),
    cache: text('--cache <dir>', 'the shared cluster cache (default CAIRN_CACHE)'),
  },
});

export const clone = spec({
  path: 'clone',
  args: ['url', 'dir'],
  description: 'start a workspace from a remote: metadata, versions and verified audit logs (data is pulled on demand)',
  options: {
    name: text('--name <remote>', 'what to call the remote', 'origin'),
    endpoint: text('--endpoint <url>', 'S3: a custom endpoint'),
    region: text('--region <region>', 'S3: the region'),
    keyFile: text('--key-file <file>', 'the key of an encrypted remote (its backup line)'),
    identityFile: text('--identity-file <file>', 'SSH: private key'),
    knownHosts: text('--known-hosts <file>', 'SSH: known_hosts file'),
  },
});
