import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PROOF_FORMAT } from '../../audit/export/proof-file.js';
import type { AuditLog } from '../../audit/log/audit-log.js';
import { formatVerifierKey } from '../../audit/note/index.js';
import { proveEvent } from '../../audit/service/audit-service.js';
import { CairnError } from '../../core/errors.js';
import type { Clock } from '../../core/time.js';
import type { LineageService } from '../../lineage/index.js';
import type { ReadDb } from '../../meta/read-db.js';
import { proofPath } from './builder.js';
import { gatherDossier, resolveModelVersion } from './gather.js';
import { DOSSIER_FORMAT, type Dossier } from './model.js';
import { dossierHtml, dossierMarkdown } from './render.js';

export interface DossierDeps {
  meta: { db: ReadDb };
  audit: AuditLog;
  lineage: LineageService;
  clock: Clock;
}

export interface DossierResult {
  dir: string;
  model: string;
  digest: string;
  statements: number;
  gaps: number;
  proofs: number;
  files: string[];
}

/**
 * Writes the Annex IV dossier of a model version into `outDir` (new or empty): dossier.md,
 * dossier.html, dossier.json, the signed checkpoint, the verifier key and one inclusion proof per
 * cited log entry. Reads only; the checkpoint it signs (if the log grew) is the only write.
 */
export async function writeDossier(deps: DossierDeps, ref: string, outDir: string): Promise<DossierResult> {
  const dir = resolve(outDir);
  if (existsSync(dir) && readdirSync(dir).length > 0)
    throw new CairnError('ALREADY_EXISTS', `${outDir} is not empty`, { hint: 'give a new or empty folder' });
  const m = await resolveModelVersion(deps.meta.db, ref);
  const b = await gatherDossier({ db: deps.meta.db, lineage: deps.lineage, now: deps.clock.now() }, m);
  const init = await deps.meta.db
    .selectFrom('audit_events')
    .select(['idx', 'action', 'time'])
    .where('action', '=', 'workspace.init')
    .where('outcome', '=', 'ok')
    .orderBy('idx')
    .executeTakeFirst();
  const vkey = formatVerifierKey(deps.audit.keys.origin, deps.audit.keys.rawPublicKey);
  b.fact(
    'logging',
    'signing key of the log',
    `checkpoints are signed (Ed25519, C2SP signed note) by ${vkey}`,
    { verifierKey: vkey },
    [init ? { index: Number(init.idx), action: init.action, time: init.time } : undefined],
  );
  const naming = await deps.meta.db
    .selectFrom('audit_events')
    .select(['idx', 'action', 'time'])
    .where('entry', 'like', `%${m.version.digest}%`)
    .orderBy('idx')
    .execute();
  b.fact(
    'logging',
    'automatic logging of this version',
    `${naming.length} log entries name this version's digest: every state change is appended to the Merkle log in the same transaction as the change (docs/AUDIT.md)`,
    { entries: naming.length },
    naming.map((e) => ({ index: Number(e.idx), action: e.action, time: e.time })),
  );
  await deps.audit.checkpoint();
  const cp = await deps.audit.latestCheckpoint();
  if (!cp) throw new CairnError('NOT_FOUND', 'the audit log is empty');
  mkdirSync(join(dir, 'proofs'), { recursive: true });
  for (const e of b.cited.values()) {
    const p = await proveEvent(deps, e.index);
    writeFileSync(join(dir, proofPath(e)), JSON.stringify({ format: PROOF_FORMAT, ...p }, null, 2) + '\n');
  }
  writeFileSync(join(dir, 'checkpoint.txt'), cp.note);
  writeFileSync(join(dir, 'verifier-key.txt'), vkey + '\n');
  const d: Dossier = b.build({
    format: DOSSIER_FORMAT,
    model: { name: m.name, version: m.version.number, digest: `sha256:${m.version.digest}` },
    checkpoint: { size: cp.size, root: cp.root, file: 'checkpoint.txt' },
    verifierKey: vkey,
  });
  writeFileSync(join(dir, 'dossier.json'), JSON.stringify(d, null, 2) + '\n');
  writeFileSync(join(dir, 'dossier.md'), dossierMarkdown(d));
  writeFileSync(join(dir, 'dossier.html'), dossierHtml(d));
  return {
    dir,
    model: `${m.name}@v${m.version.number}`,
    digest: `sha256:${m.version.digest}`,
    statements: d.sections.reduce((n, s) => n + s.statements.length, 0),
    gaps: d.gaps.length,
    proofs: b.cited.size,
    files: ['dossier.md', 'dossier.html', 'dossier.json', 'checkpoint.txt', 'verifier-key.txt', 'proofs/'],
  };
}
