import type { CommandContext } from '../context.js';
import type { TransferProgress } from '../../transfer/index.js';

/** A bytes/s + ETA bar for a transfer, plus a line on stderr for each retry. */
export function transferProgress(
  ctx: CommandContext,
  label: string,
): { progress: TransferProgress; onRetry(err: unknown, attempt: number, delayMs: number): void; done(): void } {
  const bar = ctx.progress(label, 'bytes');
  return {
    progress: { update: (d, t, note) => bar.update(d, t, note) },
    onRetry: (err, attempt, delayMs) => {
      if (!ctx.json)
        process.stderr.write(
          `\ncairn: retrying after ${(err as Error)?.message ?? String(err)} (attempt ${attempt}, waiting ${delayMs} ms)\n`,
        );
    },
    done: () => bar.done(),
  };
}
