// Three witnesses on loopback cosign a workspace's checkpoints through the real CLI: policy,
// outages (the local write is kept, the checkpoint is under-witnessed), restarts, and a fork.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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

async function threeWitnesses(cwd: string): Promise<RunningWitness[]> {
  const ws = await Promise.all(
    [1, 2, 3].map((i) => startWitness(cwd, join(cwd, `w${i}`), { name: `w${i}.example/cairn` })),
  );
  running.push(...ws);
  return ws;
}

interface Status {
  size: number;
  witnessed: boolean;
  cosignatures: Array<{ name: string }>;
  failures: Array<{ kind: string; reason: string }>;
}

describe('witnessed workspace checkpoints', () => {
  it('three witnesses cosign; 2-of-3 survives one outage; under-witnessed is said and refused; a restart catches up', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-witness-cli-'));
    const home = { cwd: join(cwd, 'ws'), env: { CAIRN_WITNESS_TIMEOUT_MS: '3000' } };
    ok(cli(['init', join(cwd, 'ws')], { cwd }));
    const vkey = (ok(cli(['audit', 'checkpoint', '--json'], home)).json as { verifierKey: string }).verifierKey;
    const origin = vkey.split('+')[0]!;
    const ws = await threeWitnesses(cwd);
    for (const w of ws) {
      ok(cli(['witness', 'add-log', origin, vkey, '--data-dir', w.dataDir], { cwd }));
      ok(cli(['audit', 'witness', 'add', w.url, w.vkey], home));
    }
    // A policy above the number of witnesses is refused.
    expect(cli(['audit', 'witness', 'policy', '4'], home).code).toBe(2);
    ok(cli(['audit', 'witness', 'policy', '2'], home));
    const ls = ok(cli(['audit', 'witness', 'ls', '--json'], home)).json as { policy: number; witnesses: unknown[] };
    expect(ls).toMatchObject({ policy: 2 });
    expect(ls.witnesses).toHaveLength(3);

    ok(cli(['data', 'add', join(cwd, 'w1', 'witness.json'), '--name', 'a'], home));
    const s1 = ok(cli(['audit', 'witness', 'status', '--json'], home)).json as Status;
    expect(s1.witnessed).toBe(true);
    expect(s1.cosignatures.map((c) => c.name).sort()).toEqual([
      'w1.example/cairn',
      'w2.example/cairn',
      'w3.example/cairn',
    ]);
    const v1 = ok(cli(['audit', 'verify', '--witnessed'], home));
    expect(v1.stdout).toMatch(/witnessed: checkpoint \d+ carries 3 valid cosignature/);
    // The cosigned checkpoint is a plain signed note: the log's line and three cosignature lines.
    const cosigned = readdirSync(join(cwd, 'ws', '.cairn', 'witness', 'cosigned'));
    const latest = readFileSync(join(cwd, 'ws', '.cairn', 'witness', 'cosigned', cosigned.sort().at(-1)!), 'utf8');
    expect(latest.split('\n').filter((l) => l.startsWith('\u2014 '))).toHaveLength(4);

    // One witness down: the write stands, two cosign, the policy is met.
    await ws[2]!.stop();
    const r2 = ok(cli(['data', 'add', join(cwd, 'w2', 'witness.json'), '--name', 'b'], home));
    expect(r2.stderr).toMatch(/witness http:\/\/127\.0\.0\.1:\d+ did not cosign/);
    expect(r2.stderr).not.toMatch(/under-witnessed/);
    ok(cli(['audit', 'verify', '--witnessed'], home));

    // Two down: the write still stands, and the checkpoint is under-witnessed, plainly.
    await ws[1]!.stop();
    const r3 = ok(cli(['data', 'add', join(cwd, 'w3', 'witness.json'), '--name', 'c'], home));
    expect(r3.stderr).toMatch(/checkpoint \d+ is under-witnessed: 1 of the 2/);
    expect(ok(cli(['data', 'ls', '--json'], home)).stdout).toContain('"c"');
    const v3 = cli(['audit', 'verify', '--witnessed', '--json'], home);
    expect(v3.code).toBe(1);
    expect(v3.stdout + v3.stderr).toMatch(/under-witnessed|policy asks for 2/);

    // Restarted on the same data dirs, the witnesses remember what they cosigned and catch up
    // through consistency proofs from there.
    const back = await Promise.all(
      [1, 2].map((i) => startWitness(cwd, ws[i]!.dataDir, { listen: new URL(ws[i]!.url).host })),
    );
    running.push(...back);
    expect(back.map((b) => b.vkey)).toEqual([ws[1]!.vkey, ws[2]!.vkey]);
    const s4 = ok(cli(['audit', 'witness', 'status', '--retry', '--json'], home)).json as Status;
    expect(s4.failures).toEqual([]);
    expect(s4.cosignatures).toHaveLength(3);
    ok(cli(['audit', 'verify', '--witnessed'], home));
  }, 300_000);

  it('a fork is refused by every witness that saw the other history, and verify --witnessed fails', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-witness-fork-'));
    const wsDir = join(cwd, 'ws');
    const home = { cwd: wsDir };
    ok(cli(['init', wsDir], { cwd }));
    const vkey = (ok(cli(['audit', 'checkpoint', '--json'], home)).json as { verifierKey: string }).verifierKey;
    const ws = await threeWitnesses(cwd);
    for (const w of ws) {
      ok(cli(['witness', 'add-log', vkey.split('+')[0]!, vkey, '--data-dir', w.dataDir], { cwd }));
      ok(cli(['audit', 'witness', 'add', w.url, w.vkey], home));
    }
    ok(cli(['audit', 'witness', 'policy', '3'], home));
    ok(cli(['data', 'add', join(cwd, 'w1', 'witness.json'), '--name', 'a'], home));
    ok(cli(['audit', 'verify', '--witnessed'], home));
    // The operator keeps a copy, the log grows and is witnessed, then the copy is restored and a
    // different history is written on top of it: a short one, then a long one.
    const savedSize = (ok(cli(['audit', 'witness', 'status', '--json'], home)).json as Status).size;
    cpSync(join(wsDir, '.cairn'), join(cwd, 'saved'), { recursive: true });
    for (const n of ['b', 'c', 'd']) ok(cli(['data', 'add', join(cwd, 'w2', 'witness.json'), '--name', n], home));
    const witnessedSize = (ok(cli(['audit', 'witness', 'status', '--json'], home)).json as Status).size;
    rmSync(join(wsDir, '.cairn'), { recursive: true });
    cpSync(join(cwd, 'saved'), join(wsDir, '.cairn'), { recursive: true });

    const short = ok(cli(['data', 'add', join(cwd, 'w3', 'witness.json'), '--name', 'evil'], home));
    expect(short.stderr).toMatch(/rolled back or forked/);
    expect(short.stderr).toMatch(/under-witnessed: 0 of the 3/);
    const v1 = cli(['audit', 'verify', '--witnessed'], home);
    expect(v1.code).toBe(1);

    // Every command appends at least one event: this many take the forked log past the witnesses' size.
    for (let i = 0; i < witnessedSize - savedSize; i++)
      cli(['data', 'add', join(cwd, 'w3', 'witness.json'), '--name', `evil${i}`], home);
    const long = ok(cli(['audit', 'witness', 'status', '--retry', '--json'], home)).json as Status;
    expect(long.size).toBeGreaterThan(witnessedSize);
    expect(long.cosignatures).toEqual([]);
    expect(long.failures).toHaveLength(3);
    for (const f of long.failures) expect(f.kind).toBe('fork');
    expect(long.failures.map((f) => f.reason).join('\n')).toMatch(/does not extend what the witness cosigned/);
    expect(cli(['audit', 'verify', '--witnessed'], home).code).toBe(1);
    // Each witness kept the refused, log-signed request: evidence that the log forked.
    for (const w of ws) expect(existsSync(join(w.dataDir, 'evidence'))).toBe(true);
  }, 300_000);
});
