import type { OptionsOf } from '../table/define.js';
import type { dataSuiteInfer } from './prep-commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof dataSuiteInfer>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'data suite infer', (s) =>
    s.dataprep.inferSuite(ref, { ...(opts.out ? { out: opts.out } : {}), ...(opts.file ? { file: opts.file } : {}) }),
  );
  ctx.out.result(r);
  if (opts.out)
    ctx.out.say(
      `wrote a starting suite for ${r.ref} to ${opts.out}; review it, then: cairn data validate ${r.ref} --suite ${opts.out}`,
    );
  else if (!ctx.json) process.stdout.write(r.suite);
}
