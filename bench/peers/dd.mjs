// Peer "dd": durable copy of big.bin — `dd if=big.bin of=<work>/copy.bin bs=4M conv=fdatasync`.
// The reference floor for "add 1 GiB durably": read + write + fdatasync, nothing else.
import path from 'node:path';
import { rm } from 'node:fs/promises';
import { runCmd, settle, repeat, CommandError, brief } from '../lib/measure.mjs';
import { freshDir, mibPerS } from './common.mjs';

export const name = 'dd';

/** data: manifest from ensureData(); work: a fresh folder for this peer. */
export async function run(data, work, opts = {}) {
  await freshDir(work);
  const out = path.join(work, 'copy.bin');
  const m = await repeat(
    opts.repeat ?? 3,
    async () => {
      await rm(out, { force: true });
      await settle([data.big.path]);
      const r = await runCmd(['dd', `if=${data.big.path}`, `of=${out}`, 'bs=4M', 'conv=fdatasync', 'status=none']);
      if (!r.ok) throw new CommandError(r);
      return brief(r);
    },
    { warmup: opts.warmup ?? 1 },
  );
  await rm(out, { force: true });
  return { copy: { ...m, bytes: data.big.bytes, mibPerS: mibPerS(data.big.bytes, m.wallS), durable: true } };
}
