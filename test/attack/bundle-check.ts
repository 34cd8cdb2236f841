import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { offlineAudit } from '../../src/audit/index.js';
import type { Team } from '../server/harness.js';

/**
 * The server's whole log as a client gets it (`GET /audit/bundle` as admin), checked both ways a
 * reader would: Cairn's verifier with the server's key, and the bundle's own `verify.py`.
 * Returns the bundle's text, so a test can also look for what must not be in it.
 */
export async function bundleVerifies(t: Team): Promise<{ problems: unknown[]; ok: boolean; py: string; text: string }> {
  const r = await t.call('admin', 'GET', '/api/v1/audit/bundle');
  if (r.status !== 200) throw new Error(`audit bundle: ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
  const dir = mkdtempSync(join(tmpdir(), 'cairn-attack-bundle-'));
  try {
    for (const [rel, text] of Object.entries(r.json.files as Record<string, string>)) {
      mkdirSync(dirname(join(dir, rel)), { recursive: true });
      writeFileSync(join(dir, rel), text);
    }
    const v = await offlineAudit.verifyBundle(dir, offlineAudit.loadVerifierKey(t.server.runtime.verifierKey));
    let py: string;
    try {
      py = execFileSync('python3', [join(dir, 'verify.py')], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      py = `FAIL (exit) ${String((e as { stdout?: unknown }).stdout)} ${String((e as { stderr?: unknown }).stderr)}`;
    }
    return { problems: v.problems, ok: v.ok, py, text: JSON.stringify(r.json) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
