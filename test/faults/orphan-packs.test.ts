// Issue 10, item 4: killed adds left orphan packs that were never reused, so a few kills grew
// the store to several times the data. The next add must adopt (or remove) what they left.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliSpawn } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';

const MiB = 1024 * 1024;

/** Pack files and their total size, and the temporary files beside them. */
function store(cwd: string): { packs: number; bytes: number; temps: number } {
  const dir = join(cwd, '.cairn', 'objects', 'packs');
  let packs = 0;
  let bytes = 0;
  for (const shard of existsSync(dir) ? readdirSync(dir) : []) {
    for (const n of readdirSync(join(dir, shard))) {
      packs++;
      bytes += statSync(join(dir, shard, n)).size;
    }
  }
  const tmpDir = join(cwd, '.cairn', 'objects', 'tmp');
  return { packs, bytes, temps: existsSync(tmpDir) ? readdirSync(tmpDir).length : 0 };
}

/** Starts `data add` and SIGKILLs it once `sealed` more packs than now are on disk. */
async function killAfterPacks(cwd: string, args: string[], more: number): Promise<'killed' | 'finished'> {
  const start = store(cwd).packs;
  const child = cliSpawn(args, { cwd });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let done = false;
  void exited.then(() => (done = true));
  while (!done && store(cwd).packs < start + more) await new Promise((r) => setTimeout(r, 5));
  if (!done) child.kill('SIGKILL');
  const { code, signal } = await exited;
  if (!signal && code !== 0) throw new Error(`data add exited ${code}: ${stderr}`);
  return signal ? 'killed' : 'finished';
}

describe('fault: packs of killed adds are reused, not piled up', () => {
  const tmp = useTempDirs();

  it(
    'three SIGKILLed adds, then one that finishes: the store holds the data about once, no orphan, no temp',
    { timeout: 180_000 },
    async () => {
      const cwd = tmp();
      expect(cli(['init'], { cwd }).code).toBe(0);
      // 1 MiB packs, so a killed add has sealed several before it dies.
      const cfgPath = join(cwd, '.cairn', 'config.json');
      const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as { storage: { pack_size_mib: number } };
      cfg.storage.pack_size_mib = 1;
      writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
      const data = join(cwd, 'data');
      const files: Record<string, Buffer> = {};
      for (let i = 0; i < 6; i++) files[`part-${i}.bin`] = prng(100 + i, 4 * MiB);
      writeTree(data, files);

      const outcomes: string[] = [];
      for (const more of [3, 4, 5])
        outcomes.push(await killAfterPacks(cwd, ['data', 'add', 'data', '--name', 'big'], more));
      expect(outcomes.filter((o) => o === 'killed').length, outcomes.join(', ')).toBeGreaterThanOrEqual(2);

      // A file that sorts first shifts every later blob, so the finishing add cannot land on
      // the killed adds' pack names by chance: only adopting their packs avoids storing twice.
      files['a-first.bin'] = prng(99, 1.5 * MiB);
      writeTree(data, { 'a-first.bin': files['a-first.bin'] });
      const dataBytes = 25.5 * MiB;
      const add = cli(['data', 'add', 'data', '--name', 'big', '--json'], { cwd });
      expect(add.code, add.stderr).toBe(0);
      const s = store(cwd);
      // Each killed add's packs were adopted by the next one: nothing is stored twice.
      expect(s.bytes, `${s.packs} packs after ${outcomes.join(', ')}`).toBeLessThan(dataBytes * 1.05 + MiB);
      expect(s.temps).toBe(0);
      if (process.env.CAIRN_TEST_VERBOSE)
        console.log(
          `store ${s.bytes} bytes in ${s.packs} packs for ${dataBytes} bytes of data (${(s.bytes / dataBytes).toFixed(3)}x) after ${outcomes.join(', ')}`,
        );
      const fsck = cli(['fsck', '--json'], { cwd });
      expect(fsck.code, fsck.stdout).toBe(0);
      expect(fsck.json).toMatchObject({ ok: true, orphanPacks: [], tempFiles: 0, brokenVersions: [] });
      const out = join(cwd, 'out');
      expect(cli(['data', 'checkout', 'big@v1', out], { cwd }).code).toBe(0);
      for (const [p, b] of Object.entries(files)) expect(readFileSync(join(out, p)).equals(b), p).toBe(true);
      expect(cli(['audit', 'verify'], { cwd }).code).toBe(0);
    },
  );
});
