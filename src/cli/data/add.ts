import type { OptionsOf } from '../table/define.js';
import type { dataAdd } from './commands.js';
import { commandContext, withServices } from '../context.js';
import { formatBytes, formatDuration } from '../format.js';

export async function run(path: string, opts: OptionsOf<typeof dataAdd>): Promise<void> {
  const ctx = commandContext(opts);
  const started = Date.now();
  const result = await withServices(opts, 'data add', async (s) => {
    const bar = ctx.progress(`adding ${opts.name}`);
    try {
      return await s.datasets.add({
        source: path,
        name: opts.name,
        message: opts.message,
        from: opts.from,
        onProgress: (p) => bar.update(p.bytes, p.bytesTotal, `${p.files}/${p.filesTotal} files`),
      });
    } finally {
      bar.done();
    }
  });
  ctx.out.result(result);
  if (result.unchanged) {
    ctx.out.say(`${result.ref} unchanged (${result.files} files, ${formatBytes(result.bytes)}); no new version`);
  } else {
    ctx.out.say(
      `${result.ref}  ${result.digest}\n  ${result.files} files, ${formatBytes(result.bytes)}; ${formatBytes(result.newBytes)} new in ${result.packs} pack(s)` +
        `${result.filesFromCache ? `, ${result.filesFromCache} files unchanged since last add` : ''} (${formatDuration(Date.now() - started)})`,
    );
  }
}
