// Peer "cp": plain copy of big.bin — `cp big.bin <work>/copy.bin` (not durable: no fsync; the
// dirty pages are flushed by the untimed `sync` before the next timing). Mirrors a checkout.
// GNU cp 9.x uses copy_file_range(2); on ext4 that is an in-kernel copy (no reflinks).
import path from 'node:path';
import { rm } from 'node:fs/promises';
import { runCmd, settle, repeat, CommandError, brief } from '../lib/measure.mjs';
import { freshDir, mibPerS } from './common.mjs';

export const name = 'cp';

export async function run(data, work, opts = {}) {
  await freshDir(work);
  const out = path.join(work, 'copy.bin');
  const m = await repeat(
    opts.repeat ?? 3,
    async () => {
      await rm(out, { force: true });
      await settle([data.big.path]);
      const r = await runCmd(['cp', data.big.path, out]);
      if (!r.ok) throw new CommandError(r);
      return brief(r);
    },
    { warmup: opts.warmup ?? 1 },
  );
  await rm(out, { force: true });
  return { copy: { ...m, bytes: data.big.bytes, mibPerS: mibPerS(data.big.bytes, m.wallS), durable: false } };
}
