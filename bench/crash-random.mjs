#!/usr/bin/env node
// The long run of the randomized crash suite (test/faults/crash-random.test.ts): many seeds,
// each killing `data add`, `data checkout`, `gc`, `push` and `pull` at random moments and
// checking after every kill that nothing is lost, no file sits partial under its final name,
// and fsck and `audit verify` are clean. CI runs one fixed seed; this runs as many as asked.
//
//   npm run build
//   node bench/crash-random.mjs --seeds 20 [--rounds 12] [--first 1]
//
// Seeds are first, first+1, …; a failure names its seed, and
// `CAIRN_CRASH_SEEDS=<seed> npx vitest run test/faults/crash-random.test.ts` replays it.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const seeds = arg('seeds', 10);
const rounds = arg('rounds', 12);
const first = arg('first', 1);
const list = Array.from({ length: seeds }, (_, i) => first + i);
const t0 = Date.now();
const r = spawnSync(
  process.execPath,
  [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/faults/crash-random.test.ts'],
  {
    cwd: root,
    env: {
      ...process.env,
      CAIRN_CRASH_SEEDS: list.join(','),
      CAIRN_CRASH_ROUNDS: String(rounds),
      CAIRN_TEST_VERBOSE: '1',
    },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  },
);
// eslint-disable-next-line no-control-regex
const out = `${r.stdout}${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
const histories = [...out.matchAll(/^seed (0x[0-9a-f]+): (.*)$/gm)].map((m) => ({ seed: m[1], ops: m[2].split(', ') }));
const kills = histories.flatMap((h) => h.ops).filter((o) => o.includes('killed'));
const byOp = {};
for (const k of kills) byOp[k.split(' ')[0]] = (byOp[k.split(' ')[0]] ?? 0) + 1;
const failed = [...out.matchAll(/FAIL .*seed (0x[0-9a-f]+):/g)].map((m) => m[1]);
console.log(
  JSON.stringify(
    {
      seeds,
      rounds,
      passed: r.status === 0,
      failedSeeds: [...new Set(failed)],
      kills: kills.length,
      killsByCommand: byOp,
      minutes: Number(((Date.now() - t0) / 60000).toFixed(1)),
    },
    null,
    2,
  ),
);
if (r.status !== 0) {
  process.stderr.write(out.slice(-20000));
  process.exit(1);
}
