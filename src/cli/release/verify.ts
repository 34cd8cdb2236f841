import type { OptionsOf } from '../table/define.js';
import type { releaseVerify } from './commands.js';
import { readFileSync } from 'node:fs';
import { CairnError } from '../../core/errors.js';
import { parseCosignerVkey } from '../../audit/index.js';
import { verifyReleaseBundle } from '../../models/index.js';
import { commandContext } from '../context.js';

/**
 * Offline: needs the bundle and the publisher's public key — no workspace. Without a key it
 * still checks everything, but never reports success: the bundle's own public-key.pem proves
 * only that the bundle agrees with itself, which anyone who rebuilt it can arrange
 * (DESIGN.md §10, docs/RELEASES.md).
 */
export async function run(dir: string, opts: OptionsOf<typeof releaseVerify>): Promise<void> {
  const ctx = commandContext(opts);
  // Checked before any file is read: a typo in a pinned key is the caller's mistake, not a bundle problem.
  const witnesses = opts.witnessKey.length ? trustedWitnesses(opts.witnessKey, opts.witnessPolicy) : null;
  const r = await verifyReleaseBundle(dir, {
    ...(opts.key ? { trustedPublicKeyPem: readKey(opts.key) } : {}),
    ...(opts.auditKey ? { trustedVerifierKey: opts.auditKey } : {}),
    ...(opts.omsKey ? { trustedOmsPublicKeyPem: readKey(opts.omsKey) } : {}),
    ...(witnesses ? { trustedWitnesses: witnesses } : {}),
    ...(opts.witnessed ? { witnessed: true } : {}),
    ...(opts.keyChain ? { trustedKeyChain: readKey(opts.keyChain, 'key chain') } : {}),
  });
  if (!r.ok)
    throw new CairnError(
      'CHECK_FAILED',
      `the release in ${dir} does not verify:\n  ${r.problems.map((p) => `${p.file ? `${p.file}: ` : ''}${p.message}`).join('\n  ')}`,
      { data: { report: r } },
    );
  if (!r.keyTrusted) {
    throw new CairnError(
      'UNTRUSTED_KEY',
      `the release in ${dir} is self-consistent (${r.filesChecked} file(s), provenance signature, ${r.proofsChecked} audit proof(s)), but no trusted key was given: its own public-key.pem proves nothing about who signed it`,
      {
        data: { report: r },
        hint: "pass --key <the publisher's public key PEM>, obtained from the publisher and kept in your repository (not the bundle's own copy)",
      },
    );
  }
  ctx.out.result(r);
  const oms = r.omsChecked
    ? `, OpenSSF Model Signing signature${r.omsKeyTrusted ? '' : ' (with the bundle’s own OMS key: pass --oms-key to pin it)'}`
    : ', no OpenSSF Model Signing signature (a bundle from before model.sig)';
  const ev = r.evidence;
  const witnessed = ev
    ? `; checkpoint cosigned by ${ev.cosignatures.length} of the ${ev.policy} witness(es) the policy needs${opts.witnessKey.length ? '' : ' (the bundle’s own witness list: pass --witness-key to pin them)'}${ev.timestampTokens ? `, ${ev.timestampTokens} RFC 3161 timestamp(s)` : ''}`
    : '';
  const chained =
    r.keyChain.length > 0
      ? ` (reached through ${r.keyChain.length - 1} release key transition(s) from the first release key)`
      : '';
  ctx.out.say(
    `ok: ${r.filesChecked} file(s), provenance signature${oms}, ${r.proofsChecked} audit proof(s)${witnessed} — signed by the trusted key ${r.keyid}${chained}${r.proofsKeyTrusted ? '' : ' (the audit proofs were checked with the bundle’s own audit key: pass --audit-key to pin it)'}`,
  );
}

/** The auditor's witnesses: their vkeys, and k of them (all, unless --witness-policy says fewer). */
function trustedWitnesses(
  vkeys: string[],
  policy: string | undefined,
): { witnesses: Array<{ url: string; vkey: string }>; policy: number } {
  const k = policy === undefined ? vkeys.length : Number(policy);
  if (!Number.isInteger(k) || k < 1 || k > vkeys.length)
    throw new CairnError(
      'USAGE',
      `--witness-policy must be a whole number from 1 to ${vkeys.length} (the --witness-key count)`,
    );
  vkeys.forEach((vkey, i) => {
    try {
      parseCosignerVkey(vkey);
    } catch (err) {
      throw new CairnError('USAGE', `--witness-key #${i + 1} is not a witness key: ${(err as Error).message}`, {
        data: { vkey: vkey.trim() },
        hint: 'pass the vkey the witness prints (`cairn witness serve`): <name>+<8 hex key ID>+<base64 key>',
      });
    }
  });
  // The URL is only where a log sends checkpoints; verifying needs the keys alone.
  return { witnesses: vkeys.map((vkey) => ({ url: 'offline:', vkey: vkey.trim() })), policy: k };
}

function readKey(path: string, what = 'key'): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CairnError('IO_ERROR', `cannot read the trusted ${what} ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
