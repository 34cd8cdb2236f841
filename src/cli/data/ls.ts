import type { OptionsOf } from '../table/define.js';
import type { dataLs } from './commands.js';
import { commandContext, withServices } from '../context.js';
import { formatBytes, table } from '../format.js';

export async function run(opts: OptionsOf<typeof dataLs>): Promise<void> {
  const ctx = commandContext(opts);
  const rows = await withServices(opts, 'data ls', (s) => s.datasets.list());
  ctx.out.result(
    rows.map((r) => ({
      name: r.name,
      versions: r.versions,
      latest: r.latest_number ? `${r.name}@v${r.latest_number}` : null,
      digest: r.latest_digest ? `sha256:${r.latest_digest}` : null,
      files: r.latest_file_count,
      bytes: r.latest_total_bytes,
      updated: r.latest_created_at,
    })),
  );
  if (rows.length === 0) return ctx.out.say('no datasets yet; add one with `cairn data add <path> --name <dataset>`');
  ctx.out.say(
    table(
      rows.map((r) => [
        r.name,
        String(r.versions),
        r.latest_number ? `v${r.latest_number}` : '-',
        String(r.latest_file_count ?? 0),
        formatBytes(r.latest_total_bytes ?? 0),
        r.latest_created_at ?? '',
      ]),
      ['DATASET', 'VERSIONS', 'LATEST', 'FILES', 'SIZE', 'UPDATED'],
    ),
  );
}
