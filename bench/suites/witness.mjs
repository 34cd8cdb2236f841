// Benchmark suite "witness": what cosigning adds to each checkpoint (issue 14, "Witnesses":
// cosigning adds < 50 ms per checkpoint on loopback).
//
// Three `cairn witness serve` processes on 127.0.0.1 (each fsyncs its state before answering).
// A log of growing size signs a checkpoint per step; each is then sent to the three witnesses in
// parallel with a consistency proof from the size each last cosigned, the cosignatures are
// verified and the cosigned note and witness sizes are written atomically (fsync) beside it:
// exactly what a workspace does after a command. Reported: median and p95 of the added time per
// checkpoint over N checkpoints (N = 100 × scale, at least 20). Peer: signing the checkpoint
// alone (the cost without witnesses). Drives the compiled modules in dist/ (`npm run build`).
import path from 'node:path';
import { mkdirSync, existsSync, rmSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { median } from '../lib/measure.mjs';

const TARGET_MS = 50;

function startWitness(cli, dataDir) {
  const child = spawn(
    process.execPath,
    [cli, 'witness', 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--json'],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (b) => {
      out += b.toString();
      try {
        const info = JSON.parse(out);
        resolve({ ...info, child });
      } catch {
        // more to come
      }
    });
    child.once('exit', (code) => reject(new Error(`witness exited ${code}: ${out}`)));
  });
}

export const suite = {
  name: 'witness',
  description: 'time cosigning adds per checkpoint: three witnesses on loopback vs signing alone',
  async run(ctx) {
    const dist = (...f) => path.join(ctx.repoRoot, 'dist', ...f);
    if (!existsSync(dist('audit', 'witness', 'index.js'))) {
      const msg = 'Cairn is not built (missing dist/audit/witness/index.js): run `npm run build`';
      return {
        results: { error: msg },
        rows: [{ metric: 'cosign latency', cairn: 'error', pass: 'error' }],
        notes: [msg],
      };
    }
    const note = await import(pathToFileURL(dist('audit', 'note', 'index.js')).href);
    const merkle = await import(pathToFileURL(dist('audit', 'merkle', 'index.js')).href);
    const witness = await import(pathToFileURL(dist('audit', 'witness', 'index.js')).href);
    const { witnessFiles } = await import(pathToFileURL(dist('app', 'witnessing.js')).href);
    const cli = path.join(ctx.repoRoot, 'bin', 'cairn.js');
    const work = path.join(ctx.workDir ?? path.join(ctx.repoRoot, 'bench', '.work'), 'witness');
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });

    const origin = 'bench.example/log';
    const key = note.generateSigningKeyPair().privateKey;
    const signer = note.signerFromPrivateKey(origin, key);
    const vkey = note.formatVerifierKey(origin, note.rawPublicKey(key));
    const witnesses = [];
    try {
      for (let i = 1; i <= 3; i++) {
        const dir = path.join(work, `w${i}`);
        spawnSync(process.execPath, [cli, 'witness', 'add-log', origin, vkey, '--data-dir', dir], { stdio: 'ignore' });
        witnesses.push(await startWitness(cli, dir));
      }
      const files = witnessFiles(path.join(work, 'log'));
      await files.writeConfig({ witnesses: witnesses.map((w) => ({ url: w.url, vkey: w.vkey })), policy: 3 });

      const n = Math.max(20, Math.round(100 * ctx.scale));
      const warm = ctx.warmup ?? 1;
      const leaves = [];
      const signOnly = [];
      const added = [];
      for (let i = 0; i < warm + n; i++) {
        for (let j = 0; j < 3; j++) leaves.push(merkle.leafHashOfText(`event ${leaves.length}`));
        const snapshot = leaves.slice();
        const t0 = performance.now();
        const cp = note.signCheckpoint({ origin, size: snapshot.length, rootHash: merkle.naiveRoot(snapshot) }, signer);
        const t1 = performance.now();
        const report = await witness.witnessCheckpoint({
          files,
          note: cp,
          ask: true,
          timeoutMs: 5000,
          proof: async (from, to) =>
            merkle.consistencyProof(from, to, (a, b) => merkle.naiveRoot(snapshot.slice(a, b))),
        });
        const t2 = performance.now();
        if (!report.witnessed)
          throw new Error(`checkpoint ${snapshot.length} not witnessed: ${JSON.stringify(report.failures)}`);
        if (i >= warm) {
          signOnly.push(t1 - t0);
          added.push(t2 - t1);
        }
      }
      const sorted = [...added].sort((a, b) => a - b);
      const p95 = sorted[Math.floor(0.95 * (sorted.length - 1))];
      const med = median(added);
      ctx.log(`witness: ${n} checkpoints, cosigning adds median ${med.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`);
      return {
        results: { checkpoints: n, witnesses: 3, addedMs: added, signOnlyMs: signOnly },
        rows: [
          {
            metric: 'time cosigning adds per checkpoint, 3 witnesses on loopback, median (ms)',
            cairn: Number(med.toFixed(1)),
            peer: Number(median(signOnly).toFixed(2)),
            target: `< ${TARGET_MS}`,
            pass: med < TARGET_MS ? 'pass' : 'FAIL',
          },
          { metric: 'p95 (ms)', cairn: Number(p95.toFixed(1)), pass: 'info' },
        ],
        notes: [
          'peer = signing the checkpoint alone (what a checkpoint costs without witnesses)',
          'each witness fsyncs its state before answering; the log fsyncs the cosigned note and witness sizes',
        ],
      };
    } finally {
      for (const w of witnesses) w.child.kill('SIGTERM');
    }
  },
};
