// The workspace commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, text } from '../table/define.js';

export const init = spec({
  path: 'init',
  args: ['dir?'],
  description: 'create a workspace (.cairn/) in dir (default: the current directory)',
  options: {
    metadataUrl: text(
      '--metadata-url <url>',
      'metadata database: sqlite:<file> (default) or postgres://user@host:port/db?schema=name',
    ),
    server: text('--server <url>', 'link to a team server: add it as the default remote (push and pull go there)'),
    remote: text('--remote <name>', 'the remote name for --server (default: team)'),
    pkcs11: text(
      '--pkcs11 <module>',
      'keep the audit key in a PKCS #11 token (path of its module, e.g. /usr/lib/softhsm/libsofthsm2.so)',
    ),
    tokenLabel: text('--token-label <label>', 'with --pkcs11: the label of the token'),
    keyLabel: text('--key-label <label>', 'with --pkcs11: the label of the Ed25519 key pair in the token'),
    releaseKeyLabel: text(
      '--release-key-label <label>',
      'with --pkcs11: also keep the release key in the token (its Ed25519 key pair); needs --oms-key-label',
    ),
    omsKeyLabel: text(
      '--oms-key-label <label>',
      'with --release-key-label: the P-256 key pair for OpenSSF Model Signing',
    ),
    pinEnv: text('--pin-env <var>', 'with --pkcs11: the environment variable holding the user PIN', 'CAIRN_PKCS11_PIN'),
  },
});
