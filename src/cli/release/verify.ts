import type { OptionsOf } from '../table/define.js';
import type { releaseVerify } from './commands.js';
import { readFileSync } from 'node:fs';
import { CairnError } from '../../core/errors.js';
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
  const r = await verifyReleaseBundle(dir, {
    ...(opts.key ? { trustedPublicKeyPem: readKey(opts.key) } : {}),
    ...(opts.auditKey ? { trustedVerifierKey: opts.auditKey } : {}),
    ...(opts.omsKey ? { trustedOmsPublicKeyPem: readKey(opts.omsKey) } : {}),
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
  ctx.out.say(
    `ok: ${r.filesChecked} file(s), provenance signature${oms}, ${r.proofsChecked} audit proof(s) — signed by the trusted key ${r.keyid}${r.proofsKeyTrusted ? '' : ' (the audit proofs were checked with the bundle’s own audit key: pass --audit-key to pin it)'}`,
  );
}

function readKey(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CairnError('IO_ERROR', `cannot read the trusted key ${path}: ${(err as Error).message}`, { cause: err });
  }
}
