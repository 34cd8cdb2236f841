// The release commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, text, required } from '../table/define.js';

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
  },
});
