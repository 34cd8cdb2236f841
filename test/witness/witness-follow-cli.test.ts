// Issue 14: a witness that pinned a workspace's audit key keeps cosigning after `audit keys
// rotate` without `witness add-log`: the log presents its key transition with the checkpoint
// and the witness follows it (signed by the key it knew, countersigned by the new one, in the tree).
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, type CliResult } from '../../src/test-support/cli.js';
import { startWitness, type RunningWitness } from './support.js';

const running: RunningWitness[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((w) => w.stop()));
});

function ok(r: CliResult): CliResult {
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r;
}

interface Status {
  size: number;
  witnessed: boolean;
  cosignatures: Array<{ name: string }>;
  failures: Array<{ kind: string; reason: string }>;
}

describe('a witness follows an audit key rotation', () => {
  it('cosigns checkpoints signed by the new key only, and the next rotation too', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-witness-follow-'));
    const home = { cwd: join(cwd, 'ws'), env: { CAIRN_WITNESS_TIMEOUT_MS: '5000' } };
    ok(cli(['init', join(cwd, 'ws')], { cwd }));
    const vkey = (ok(cli(['audit', 'checkpoint', '--json'], home)).json as { verifierKey: string }).verifierKey;
    const w = await startWitness(cwd, join(cwd, 'w1'), { name: 'w1.example/cairn' });
    running.push(w);
    ok(cli(['witness', 'add-log', vkey.split('+')[0]!, vkey, '--data-dir', w.dataDir], { cwd }));
    ok(cli(['audit', 'witness', 'add', w.url, w.vkey], home));
    ok(cli(['audit', 'witness', 'policy', '1'], home));
    const src = join(cwd, 'src');
    mkdirSync(src);
    for (const round of [1, 2]) {
      ok(cli(['audit', 'keys', 'rotate'], home));
      writeFileSync(join(src, `f${round}.csv`), `x\n${round}\n`);
      // Signed by the new key alone: the witness knew only the first key (round 2: the second).
      ok(cli(['data', 'add', src, '--name', 'd'], home));
      const s = ok(cli(['audit', 'witness', 'status', '--json'], home)).json as Status;
      expect(s.failures, JSON.stringify(s.failures)).toEqual([]);
      expect(s.witnessed).toBe(true);
      expect(s.cosignatures.map((c) => c.name)).toEqual(['w1.example/cairn']);
    }
    ok(cli(['audit', 'verify', '--witnessed'], home));
  });
});
