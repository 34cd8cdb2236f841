import type { OptionsOf } from '../table/define.js';
import type { init } from './commands.js';
import { initAndDescribe } from '../../app/init.js';
import { commandContext } from '../context.js';
import { CairnError } from '../../core/errors.js';

export async function run(dir: string | undefined, opts: OptionsOf<typeof init>): Promise<void> {
  const { out } = commandContext(opts);
  if (opts.remote && !opts.server)
    throw new CairnError('USAGE', '--remote names the remote for --server; give --server <url> too');
  const labels = [opts.tokenLabel, opts.keyLabel];
  if (!opts.pkcs11 && labels.some((l) => l !== undefined))
    throw new CairnError('USAGE', '--token-label and --key-label go with --pkcs11 <module>');
  if (opts.pkcs11 && labels.some((l) => !l))
    throw new CairnError('USAGE', '--pkcs11 needs --token-label and --key-label', {
      hint: 'cairn init --pkcs11 /usr/lib/softhsm/libsofthsm2.so --token-label cairn --key-label audit',
    });
  if (
    (opts.releaseKeyLabel === undefined) !== (opts.omsKeyLabel === undefined) ||
    (opts.releaseKeyLabel && !opts.pkcs11)
  )
    throw new CairnError('USAGE', '--release-key-label and --oms-key-label go together, with --pkcs11');
  const result = await initAndDescribe(dir ?? '.', {
    ...(opts.releaseKeyLabel && opts.omsKeyLabel
      ? { releaseKeyLabels: { keyLabel: opts.releaseKeyLabel, omsKeyLabel: opts.omsKeyLabel } }
      : {}),
    ...(opts.metadataUrl ? { metadataUrl: opts.metadataUrl } : {}),
    ...(opts.server ? { server: { url: opts.server, ...(opts.remote ? { remote: opts.remote } : {}) } } : {}),
    ...(opts.pkcs11
      ? {
          pkcs11: {
            module: opts.pkcs11,
            tokenLabel: opts.tokenLabel!,
            keyLabel: opts.keyLabel!,
            pinEnv: opts.pinEnv,
          },
        }
      : {}),
    onGitignoreError: (root, err) =>
      out.note(`cairn: could not add .cairn/ to ${root}/.gitignore (${err.message}); add it yourself`),
  });
  out.result(result);
  out.say(
    `Initialized Cairn workspace in ${result.workspace}/.cairn (metadata: ${result.metadata}, acting as ${result.actor})`,
  );
  out.say(`audit log key: ${result.verifierKey}${opts.pkcs11 ? ` (in PKCS #11 token "${opts.tokenLabel}")` : ''}`);
  if (result.gitignore === 'added') out.say(`added .cairn/ to ${result.workspace}/.gitignore`);
  if (result.server) {
    out.say(
      `linked to ${result.server.url} as remote '${result.server.remote}' (the default): cairn push / cairn pull`,
    );
    out.say(
      result.server.signedInAs
        ? `signed in there as ${result.server.signedInAs}`
        : `not signed in there yet: cairn login ${result.server.url}`,
    );
  }
}
