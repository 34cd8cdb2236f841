// The Annex IV dossier from recorded facts only (issue 14): a missing fact is a gap, never text;
// every statement cites log entries whose inclusion proofs verify; recorded text is escaped.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServices } from '../../app/services.js';
import type { Workspace } from '../../app/workspace.js';
import { offlineAudit } from '../../audit/index.js';
import { isCairnError } from '../../core/errors.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace, writeTree } from '../../test-support/workspace.js';
import type { Dossier } from './model.js';
import { cardSection } from './model.js';

function checkAllProofs(out: string, d: Dossier): number {
  const key = offlineAudit.loadVerifierKey(readFileSync(join(out, 'verifier-key.txt'), 'utf8'));
  let n = 0;
  for (const s of d.sections)
    for (const st of s.statements) {
      expect(st.evidence.length, `${st.field} cites an entry`).toBeGreaterThan(0);
      for (const e of st.evidence) {
        const r = offlineAudit.verifyProof(readFileSync(join(out, e.proof), 'utf8'), key);
        expect(r.ok, `${e.proof}: ${r.problems.join('; ')}`).toBe(true);
        expect(r.index).toBe(e.index);
        expect(r.treeSize).toBe(d.checkpoint.size);
        n++;
      }
    }
  return n;
}

describe('cairn dossier', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  it('lists a model without a card purpose under gaps instead of inventing one, and every statement verifies', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const s = buildServices(ws);
    writeTree(join(dir, 'm'), { 'model.onnx': 'not really onnx' });
    await s.models.register({ name: 'bare', path: join(dir, 'm'), format: 'onnx' });
    const out = join(dir, 'dossier');
    const r = await s.compliance.dossier('bare@v1', out);
    const d = JSON.parse(readFileSync(join(out, 'dossier.json'), 'utf8')) as Dossier;
    expect(r.gaps).toBe(d.gaps.length);
    const fields = d.sections.flatMap((x) => x.statements.map((st) => st.field));
    expect(fields).not.toContain('intended purpose');
    expect(d.gaps.map((g) => g.field)).toEqual(
      expect.arrayContaining([
        'intended purpose',
        'known limitations',
        'hardware and compute used',
        'training method and parameters',
        'evaluation',
        'retention of the model files',
      ]),
    );
    // The template's placeholder text appears nowhere as a statement.
    expect(readFileSync(join(out, 'dossier.md'), 'utf8')).not.toContain('Who uses this model');
    expect(checkAllProofs(out, d)).toBeGreaterThan(0);
    // A second dossier into the same folder is refused, the first one kept.
    const again = await s.compliance.dossier('bare@v1', out).catch((e: unknown) => e);
    expect(isCairnError(again, 'ALREADY_EXISTS')).toBe(true);
  });

  it('states the purpose and limitations the card records, escaped in HTML and Markdown, and cites the hold that retains it', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const s = buildServices(ws);
    writeTree(join(dir, 'm'), { 'model.onnx': 'bytes' });
    mkdirSync(join(dir, 'docs'));
    const card = join(dir, 'docs', 'card.md');
    writeFileSync(
      card,
      '## Intended use\nRanks support tickets <script>alert(1)</script> for triage; never for hiring.\n\n## Limitations\nEnglish only [click](javascript:x).\n',
    );
    await s.models.register({ name: 'triage', path: join(dir, 'm'), format: 'onnx', intendedUse: card });
    await s.compliance.hold('model:triage@v1', { reason: 'Annex IV: keep 10 years', retainUntil: '2099-12-31' });
    const out = join(dir, 'dossier');
    await s.compliance.dossier('triage@v1', out);
    const d = JSON.parse(readFileSync(join(out, 'dossier.json'), 'utf8')) as Dossier;
    const st = (field: string) => d.sections.flatMap((x) => x.statements).find((x) => x.field === field);
    expect(st('intended purpose')?.text).toBe(
      'Ranks support tickets <script>alert(1)</script> for triage; never for hiring.',
    );
    expect(st('known limitations')?.text).toBe('English only [click](javascript:x).');
    expect(st('retention of the model files')?.evidence.map((e) => e.action)).toEqual(['dataset.hold']);
    expect(d.gaps.map((g) => g.field)).not.toContain('intended purpose');
    const html = readFileSync(join(out, 'dossier.html'), 'utf8');
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    const md = readFileSync(join(out, 'dossier.md'), 'utf8');
    expect(md).not.toContain('<script>');
    expect(md).not.toContain('[click](javascript:x)');
    checkAllProofs(out, d);
  });

  it('reads a card section only when a person wrote it', () => {
    expect(
      cardSection('## Intended use\n(Who uses this model.)\n\n## Limitations\nNone known.\n', 'Intended use'),
    ).toBe(null);
    expect(cardSection('## Intended use\n\n## Limitations\nNone known.\n', 'Intended use')).toBe(null);
    expect(cardSection('## Limitations\nNone known.\n', 'limitations')).toBe('None known.');
    expect(cardSection('no sections', 'Limitations')).toBe(null);
  });
});
