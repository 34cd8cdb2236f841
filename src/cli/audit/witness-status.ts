import type { OptionsOf } from '../table/define.js';
import type { auditWitnessStatus } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(opts: OptionsOf<typeof auditWitnessStatus>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'audit witness status', (s) => s.audit.witnessed({ ask: opts.retry === true }));
  const { cosignedNote, ...rest } = r;
  ctx.out.result({ ...rest, note: cosignedNote });
  for (const c of r.cosignatures)
    ctx.out.say(`cosigned by ${c.name} (${c.url}) at ${new Date(c.time * 1000).toISOString()}`);
  for (const f of r.failures) ctx.out.say(`not cosigned by ${f.url}: ${f.reason}`);
  if (r.timestamp && 'error' in r.timestamp) ctx.out.say(`no trusted time: ${r.timestamp.error}`);
  else if (r.timestamp)
    ctx.out.say(
      `RFC 3161 token ${r.timestamp.token}${r.timestamp.verified ? ' (verified against the configured CA)' : ''}; check it: openssl ts -verify -data ${r.timestamp.data} -in ${r.timestamp.token} -CAfile <ca.pem>`,
    );
  ctx.out.say(
    `checkpoint ${r.size}: ${r.cosignatures.length} of ${r.configured} witness(es) cosigned, policy ${r.policy}: ${r.witnessed ? 'witnessed' : 'UNDER-WITNESSED'}`,
  );
}
