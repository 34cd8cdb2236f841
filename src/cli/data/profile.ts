import type { OptionsOf } from '../table/define.js';
import type { dataProfile } from './prep-commands.js';
import { commandContext, withServices } from '../context.js';
import { formatBytes, table } from '../format.js';

export async function run(ref: string, opts: OptionsOf<typeof dataProfile>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'data profile', (s) =>
    s.dataprep.profile(ref, opts.file ? { file: opts.file } : {}),
  );
  ctx.out.result(r);
  ctx.out.say(`${r.ref}  ${r.digest}  (profile ${r.reportDigest.slice(0, 19)} stored with the version)`);
  const p = r.profile as unknown as Record<string, unknown>;
  if (r.kind === 'files') {
    const f = p as {
      files: number;
      bytes: number;
      extensions: Array<{ ext: string; files: number; bytes: number }>;
      sizes: { min: number; p50: number; p95: number; max: number };
    };
    ctx.out.say(
      `${f.files} files, ${formatBytes(f.bytes)}; sizes min ${formatBytes(f.sizes.min)}, median ${formatBytes(f.sizes.p50)}, p95 ${formatBytes(f.sizes.p95)}, max ${formatBytes(f.sizes.max)}`,
    );
    ctx.out.say(
      table(
        f.extensions.map((e) => [e.ext, String(e.files), formatBytes(e.bytes)]),
        ['EXT', 'FILES', 'SIZE'],
      ),
    );
    return;
  }
  const t = p as { rows: number; columns: Array<Record<string, unknown>> };
  ctx.out.say(`${t.rows} rows, ${t.columns.length} columns`);
  const fmt = (v: unknown) =>
    v === null || v === undefined
      ? ''
      : typeof v === 'number'
        ? Number.isInteger(v)
          ? String(v)
          : v.toPrecision(6)
        : String(v).slice(0, 24);
  ctx.out.say(
    table(
      t.columns.map((c) => [
        String(c.name),
        String(c.type),
        fmt(c.nulls),
        fmt(c.distinct),
        fmt(c.min),
        fmt(c.max),
        fmt(c.mean),
        fmt(c.stddev),
      ]),
      ['COLUMN', 'TYPE', 'NULLS', 'DISTINCT', 'MIN', 'MAX', 'MEAN', 'STDDEV'],
    ),
  );
}
