// The release commands' declarations: arguments and options, once (see ../table/define.ts).
import { flag, list, spec, text, required } from '../table/define.js';

export const releaseCreate = spec({
  path: 'release create',
  args: ['ref'],
  description: 'write a release bundle for a model version',
  options: {
    out: required('--out <dir>', 'a new or empty folder'),
  },
});

export const releaseVerify = spec({
  path: 'release verify',
  args: ['dir'],
  description:
    'check a release bundle offline: every file, the signatures (DSSE and OpenSSF Model Signing), the statement, the audit proofs',
  options: {
    key: text('--key <pem>', "the publisher's trusted public key (PEM file)"),
    auditKey: text('--audit-key <vkey>', "the publisher's audit verifier key (name+hash+key)"),
    omsKey: text('--oms-key <pem>', "the publisher's OpenSSF Model Signing key (P-256 PEM file), for model.sig"),
    witnessed: flag(
      '--witnessed',
      "also require the audit proofs' checkpoint to carry k valid witness cosignatures (docs/RELEASES.md)",
    ),
    witnessKey: list(
      '--witness-key <vkey>',
      "a witness's cosignature verifier key you trust (repeat it); replaces the bundle's own witness list",
    ),
    witnessPolicy: text('--witness-policy <k>', 'how many of the --witness-key witnesses must cosign (default: all)'),
    keyChain: text(
      '--key-chain <file>',
      "release-key transitions you trust beyond the bundle's own (the publisher's release-chain.json, or a newer bundle's key-chain.json)",
    ),
  },
});

export const releaseKeysRotate = spec({
  path: 'release keys rotate',
  args: [],
  description:
    'hand releases over to a new release key (the transition is signed by the old key, countersigned by the new one)',
  options: {
    pkcs11: text(
      '--pkcs11 <module>',
      'the new key is two key pairs already in this PKCS #11 token (default: a new key file)',
    ),
    tokenLabel: text('--token-label <label>', 'with --pkcs11: the label of the token'),
    keyLabel: text('--key-label <label>', 'with --pkcs11: the label of the new Ed25519 key pair (DSSE)'),
    omsKeyLabel: text(
      '--oms-key-label <label>',
      'with --pkcs11: the label of the new P-256 key pair (OpenSSF Model Signing)',
    ),
    pinEnv: text('--pin-env <var>', 'with --pkcs11: the environment variable holding the user PIN', 'CAIRN_PKCS11_PIN'),
  },
});
