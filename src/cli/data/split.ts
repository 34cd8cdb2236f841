import type { OptionsOf } from '../table/define.js';
import type { dataSplit } from './prep-commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof dataSplit>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'data split', (s) =>
    s.dataprep.split(ref, {
      name: opts.name,
      ratios: opts.ratios,
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(opts.key ? { key: opts.key.split(',').map((k) => k.trim()) } : {}),
      ...(opts.stratify ? { stratify: opts.stratify } : {}),
      ...(opts.group ? { group: opts.group } : {}),
      ...(opts.time ? { time: opts.time } : {}),
      ...(opts.cutoff ? { cutoff: opts.cutoff } : {}),
      ...(opts.text ? { text: opts.text } : {}),
      ...(opts.labels ? { labels: opts.labels } : {}),
      ...(opts.manifest ? { manifest: opts.manifest } : {}),
      ...(opts.file ? { file: opts.file } : {}),
      format: opts.format,
      allowLeakage: opts.allowLeakage === true,
    }),
  );
  ctx.out.result(r);
  for (const s of r.splits) ctx.out.say(`${s.ref.padEnd(28)} ${String(s.size).padStart(9)}  ${s.digest}`);
  const findings = r.leakage.findings as Array<{ severity: string; message: string }>;
  if (findings.length === 0) ctx.out.say(`leakage report: clean`);
  for (const f of findings) ctx.out.say(`leakage ${f.severity}: ${f.message}`);
  if (r.allowedLeakage) ctx.out.say('leakage accepted with --allow-leakage (recorded in the audit log)');
}
