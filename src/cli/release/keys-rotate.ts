import { CairnError } from '../../core/errors.js';
import type { OptionsOf } from '../table/define.js';
import type { releaseKeysRotate } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(opts: OptionsOf<typeof releaseKeysRotate>): Promise<void> {
  const ctx = commandContext(opts);
  const labels = [opts.tokenLabel, opts.keyLabel, opts.omsKeyLabel];
  if (!opts.pkcs11 && labels.some((l) => l !== undefined))
    throw new CairnError('USAGE', '--token-label, --key-label and --oms-key-label go with --pkcs11 <module>');
  if (opts.pkcs11 && labels.some((l) => !l))
    throw new CairnError('USAGE', '--pkcs11 needs --token-label, --key-label and --oms-key-label', {
      hint: 'cairn release keys rotate --pkcs11 /usr/lib/softhsm/libsofthsm2.so --token-label cairn --key-label release-2 --oms-key-label oms-2',
    });
  const r = await withServices(opts, 'release keys rotate', (s) =>
    s.releases.rotateKey(
      opts.pkcs11
        ? {
            pkcs11: {
              module: opts.pkcs11,
              tokenLabel: opts.tokenLabel!,
              keyLabel: opts.keyLabel!,
              omsKeyLabel: opts.omsKeyLabel!,
              pinEnv: opts.pinEnv ?? 'CAIRN_PKCS11_PIN',
            },
          }
        : {},
    ),
  );
  ctx.out.result(r);
  if (r.resumed) ctx.out.say('finished a rotation the log had already recorded');
  ctx.out.say(`entry ${r.index}: the release key was handed over`);
  ctx.out.say(`  from ${r.from}`);
  ctx.out.say(`  to   ${r.to} (${r.custody})`);
  ctx.out.say(
    `releases are signed by the new key from now on; older ones keep verifying. Publish the new release.pub and ${r.chainFile} beside the old key`,
  );
}
