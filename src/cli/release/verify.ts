import { readFileSync } from 'node:fs';
import { CairnError } from '../../core/errors.js';
import { verifyReleaseBundle } from '../../models/releases.js';
import { commandContext, type GlobalOptions } from '../context.js';

/** Offline: needs the bundle and, to trust it, the publisher's public key — no workspace. */
export async function run(dir: string, opts: GlobalOptions & { key?: string; auditKey?: string }): Promise<void> {
  const ctx = commandContext(opts);
  const r = await verifyReleaseBundle(dir, { ...(opts.key ? { trustedPublicKeyPem: readFileSync(opts.key, 'utf8') } : {}), ...(opts.auditKey ? { trustedVerifierKey: opts.auditKey } : {}) });
  if (!r.ok) throw new CairnError('CHECK_FAILED', `the release in ${dir} does not verify:\n  ${r.problems.map((p) => `${p.file ? `${p.file}: ` : ''}${p.message}`).join('\n  ')}`, { data: { report: r } });
  ctx.out.result(r);
  ctx.out.say(`ok: ${r.filesChecked} file(s), provenance signature, ${r.proofsChecked} audit proof(s)${r.keyTrusted ? ' — signed by the trusted key' : ' — WARNING: no trusted key given (--key), so this only shows the bundle is self-consistent'}`);
}
