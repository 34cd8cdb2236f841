import { CairnError } from '../../core/errors.js';
import type { OptionsOf } from '../table/define.js';
import type { auditKeysRotate } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(opts: OptionsOf<typeof auditKeysRotate>): Promise<void> {
  const ctx = commandContext(opts);
  if (!opts.pkcs11 && (opts.tokenLabel !== undefined || opts.keyLabel !== undefined))
    throw new CairnError('USAGE', '--token-label and --key-label go with --pkcs11 <module>');
  if (opts.pkcs11 && (!opts.tokenLabel || !opts.keyLabel))
    throw new CairnError('USAGE', '--pkcs11 needs --token-label and --key-label', {
      hint: 'cairn audit keys rotate --pkcs11 /usr/lib/softhsm/libsofthsm2.so --token-label cairn --key-label audit-2',
    });
  const r = await withServices(opts, 'audit keys rotate', (s) =>
    s.audit.rotateKey(
      opts.pkcs11
        ? {
            pkcs11: {
              module: opts.pkcs11,
              tokenLabel: opts.tokenLabel!,
              keyLabel: opts.keyLabel!,
              pinEnv: opts.pinEnv ?? 'CAIRN_PKCS11_PIN',
            },
          }
        : {},
    ),
  );
  ctx.out.result(r);
  if (r.resumed) ctx.out.say('finished a rotation the log had already recorded');
  ctx.out.say(`entry ${r.index}: the audit key was handed over`);
  ctx.out.say(`  from ${r.from}`);
  ctx.out.say(`  to   ${r.to} (${r.custody})`);
  ctx.out.say(
    `checkpoint ${r.checkpoint.size} is signed by the new key; give the new vkey to whoever pinned the old one (verifiers follow the transition)`,
  );
}
