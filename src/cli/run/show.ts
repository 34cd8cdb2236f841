import { getRun, syncRuns } from '../../compute/runs/service.js';
import { runDetails, type RunDetails } from '../../compute/runs/queries.js';
import { commandContext, withWorkspace, type GlobalOptions } from '../context.js';

export function describeRun(d: RunDetails): string {
  const lines = [
    `run ${d.id}  ${d.name}  [${d.status}]  project ${d.project}  backend ${d.backend}${d.job ? ` (job ${d.job})` : ''}`,
    `  run key   sha256:${d.runKey}`,
    `  code      ${d.code.commit ? `${d.code.commit}${d.code.dirty ? ` + uncommitted changes sha256:${d.code.dirty.slice(0, 12)}…` : ''}` : `not a git repository; files sha256:${d.code.dirty?.slice(0, 12) ?? '?'}…`}`,
    `  inputs    ${d.spec.inputs.map((i) => `${i.name}=${i.ref}`).join(', ') || '(none)'}`,
    `  params    ${Object.entries(d.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ') || '(none)'}`,
    `  times     created ${d.createdAt}${d.startedAt ? `, started ${d.startedAt}` : ''}${d.endedAt ? `, ended ${d.endedAt}` : ''}`,
  ];
  if (d.reason) lines.push(`  reason    ${(d.reason as { code: string; message: string }).code}: ${(d.reason as { message: string }).message}`);
  if (d.reusedFrom) lines.push(`  reused    results of run ${d.reusedFrom}`);
  if (d.exitCode !== null) lines.push(`  exit      ${d.exitCode}`);
  for (const m of d.metrics) lines.push(`  metric    ${m.name}: ${m.last}${m.lastStep !== null ? ` @ step ${m.lastStep}` : ''} (${m.points} points, min ${m.min}, max ${m.max})`);
  const u = d.usage as { elapsedS?: number; cpuSeconds?: number | null; maxRssKb?: number | null; gpuSeconds?: number; gpu?: { available: boolean; reason?: string } };
  if (u.elapsedS != null) lines.push(`  usage     wall ${u.elapsedS.toFixed(1)} s, CPU ${u.cpuSeconds?.toFixed(1) ?? '?'} s, peak memory ${u.maxRssKb != null ? `${Math.round(u.maxRssKb / 1024)} MiB` : '?'}, GPU ${((u.gpuSeconds ?? 0) / 3600).toFixed(3)} h${u.gpu && !u.gpu.available ? ` (utilization unavailable: ${u.gpu.reason})` : ''}`);
  if (d.output) lines.push(`  output    ${d.output}`);
  lines.push(`  files     ${d.dir}`);
  return lines.join('\n');
}

export async function run(id: string, opts: GlobalOptions): Promise<void> {
  const ctx = commandContext(opts);
  const d = await withWorkspace(opts, 'run show', async (ws) => {
    await syncRuns(ws);
    return runDetails(ws, await getRun(ws, id));
  });
  ctx.out.result(d);
  ctx.out.say(describeRun(d));
}
