import { formatBytes } from './format.js';

export interface Progress {
  update(done: number, total?: number, note?: string): void;
  done(): void;
}

const noop: Progress = { update() {}, done() {} };

/**
 * A one-line progress bar on stderr: percentage, amount, rate and ETA. Only on a terminal,
 * never with --json, and only once the work has run for half a second, so quick commands
 * stay quiet.
 */
export function createProgress(
  label: string,
  opts: { enabled: boolean; unit?: 'bytes' | 'items'; total?: number },
): Progress {
  if (!opts.enabled || !process.stderr.isTTY || process.env.CAIRN_NO_PROGRESS) return noop;
  const started = Date.now();
  let total = opts.total ?? 0;
  let last = 0;
  let drawn = false;
  let current = 0;
  let note = '';
  const fmt = (n: number) => (opts.unit === 'items' ? String(n) : formatBytes(n));
  const draw = () => {
    const elapsed = (Date.now() - started) / 1000;
    const rate = elapsed > 0 ? current / elapsed : 0;
    const pct = total > 0 ? Math.min(1, current / total) : 0;
    const width = 24;
    const bar = total > 0 ? '█'.repeat(Math.round(pct * width)).padEnd(width, '░') : '';
    const eta = total > 0 && rate > 0 ? ` ETA ${Math.max(0, Math.ceil((total - current) / rate))}s` : '';
    const amount = total > 0 ? `${fmt(current)}/${fmt(total)}` : fmt(current);
    const rateText = opts.unit === 'items' ? `${rate.toFixed(0)}/s` : `${formatBytes(rate)}/s`;
    const line = `${label} ${bar} ${total > 0 ? `${(pct * 100).toFixed(0).padStart(3)}% ` : ''}${amount} ${rateText}${eta}${note ? ` ${note}` : ''}`;
    process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns || 100) - 1)}`);
    drawn = true;
  };
  return {
    update(done, t, n) {
      current = done;
      if (t !== undefined) total = t;
      if (n !== undefined) note = n;
      const now = Date.now();
      if (now - started < 500 || now - last < 100) return;
      last = now;
      draw();
    },
    done() {
      if (drawn) process.stderr.write('\r\x1b[2K');
    },
  };
}
