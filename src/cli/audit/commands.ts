// The audit commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, flag, text, parsed } from '../table/define.js';
import { parseCount } from '../table/parsers.js';

export const auditLog = spec({
  path: 'audit log',
  args: [],
  description: 'list events',
  options: {
    actor: text('--actor <id>', 'only this account id'),
    action: text('--action <action>', 'only this action (a trailing * matches a prefix, e.g. dataset.*)'),
    target: text('--target <name>', 'only events on this target name'),
    outcome: text('--outcome <outcome>', 'ok, failed or denied'),
    since: text('--since <time>', 'ISO time or age such as 7d, 12h'),
    until: text('--until <time>', 'ISO time or age'),
    limit: parsed('--limit <n>', 'at most n events (newest)', parseCount),
  },
});

export const auditShow = spec({
  path: 'audit show',
  args: ['index'],
  description: 'one event, exactly as logged',
  options: {},
});

export const auditVerify = spec({
  path: 'audit verify',
  args: [],
  description: 'recompute the Merkle tree, check every checkpoint signature and the hash chain',
  options: {
    against: text('--against <file>', 'a checkpoint exported earlier (trusted state)'),
    key: text('--key <vkey>', 'trusted verifier key (text or file); required with --against'),
    artifacts: flag('--artifacts', 're-hash every stored object an event names'),
    deep: flag('--deep', 'also parse every entry fully and require canonical JSON (slower)'),
    bundle: text('--bundle <dir>', 'verify an exported bundle instead of the workspace (no workspace needed)'),
    witnessed: flag(
      '--witnessed',
      'also require k valid witness cosignatures on the latest checkpoint (docs/AUDIT.md §8)',
    ),
  },
});

export const auditProve = spec({
  path: 'audit prove',
  args: ['index'],
  description: 'inclusion proof of an event plus a signed checkpoint, verifiable offline',
  options: {
    out: text('--out <file>', 'write the proof to a file'),
  },
});

export const auditExport = spec({
  path: 'audit export',
  args: ['dir'],
  description: 'self-contained bundle: entries, checkpoints, public key, proofs',
  options: {},
});

export const auditCheckpoint = spec({
  path: 'audit checkpoint',
  args: [],
  description: 'sign a checkpoint of the current log (and export it)',
  options: {
    out: text('--out <file>', 'also write the signed checkpoint to this file (keep it outside the workspace)'),
  },
});

export const auditVerifyProof = spec({
  path: 'audit verify-proof',
  args: ['file'],
  description: 'check a proof written by `audit prove` (no workspace needed)',
  options: {
    key: text('--key <vkey>', 'trusted verifier key (text or file); default: the key the proof names'),
  },
});

export const auditWitnessAdd = spec({
  path: 'audit witness add',
  args: ['url', 'vkey'],
  description: "send this log's checkpoints to a witness (its URL and its cosignature vkey)",
  options: {},
});

export const auditWitnessLs = spec({
  path: 'audit witness ls',
  args: [],
  description: 'the witnesses and the k-of-n policy',
  options: {},
});

export const auditWitnessRm = spec({
  path: 'audit witness rm',
  args: ['witness'],
  description: 'stop sending checkpoints to a witness (by URL, vkey or name)',
  options: {},
});

export const auditWitnessPolicy = spec({
  path: 'audit witness policy',
  args: ['k'],
  description: 'a checkpoint counts as witnessed with k valid cosignatures',
  options: {},
});

export const auditWitnessStatus = spec({
  path: 'audit witness status',
  args: [],
  description: 'how the latest checkpoint stands with the witnesses',
  options: {
    retry: flag('--retry', 'send it to the witnesses that have not cosigned it yet'),
  },
});

export const auditTimestampSet = spec({
  path: 'audit timestamp set',
  args: ['url'],
  description: 'get an RFC 3161 token for each checkpoint from this timestamp authority',
  options: {
    ca: text('--ca <file>', "PEM of the CA the TSA's certificate chains to (tokens are verified before they are kept)"),
  },
});

export const auditKeysRotate = spec({
  path: 'audit keys rotate',
  args: [],
  description: 'hand the log over to a new audit key (signed by the old key, countersigned by the new one)',
  options: {
    pkcs11: text(
      '--pkcs11 <module>',
      'the new key is a key pair already in this PKCS #11 token (default: a new key file)',
    ),
    tokenLabel: text('--token-label <label>', 'with --pkcs11: the label of the token'),
    keyLabel: text('--key-label <label>', 'with --pkcs11: the label of the new Ed25519 key pair'),
    pinEnv: text('--pin-env <var>', 'with --pkcs11: the environment variable holding the user PIN', 'CAIRN_PKCS11_PIN'),
  },
});

export const auditTimestampRm = spec({
  path: 'audit timestamp rm',
  args: [],
  description: 'stop timestamping checkpoints',
  options: {},
});
