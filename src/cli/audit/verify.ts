import type { OptionsOf } from '../table/define.js';
import type { auditVerify } from './commands.js';
import { offlineAudit, type AuditVerifyReport, type VerifyProblem, type WitnessReport } from '../../audit/index.js';
import { CairnError } from '../../core/errors.js';
import { readFileSync } from 'node:fs';
import { commandContext, withServices } from '../context.js';

/** Why `--witnessed` refuses the latest checkpoint, or null when it has k valid cosignatures. */
function witnessProblem(w: WitnessReport | null): VerifyProblem | null {
  if (w?.witnessed) return null;
  const message = !w
    ? 'no witness report'
    : w.policy === 0
      ? 'no witness policy is set (cairn audit witness add <url> <vkey>; cairn audit witness policy <k>)'
      : `the latest checkpoint (size ${w.size}) has ${w.cosignatures.length} valid cosignature(s) from configured witnesses; the policy asks for ${w.policy}`;
  return { index: null, kind: 'under-witnessed', message };
}

function witnessLine(w: WitnessReport): string {
  return `witnessed: checkpoint ${w.size} carries ${w.cosignatures.length} valid cosignature(s) (policy ${w.policy} of ${w.configured}): ${w.cosignatures.map((c) => c.name).join(', ')}`;
}

function witnessSummary(w: WitnessReport | null) {
  if (!w) return null;
  const { cosignedNote, failures, ...rest } = w;
  void failures;
  return { ...rest, note: cosignedNote };
}

/** How many current rows were reconciled with the log, and how many could not be. */
function stateSummary(state: AuditVerifyReport['state']): string {
  if (!state) return '';
  const rows = Object.values(state.rows).reduce((a, b) => a + b, 0);
  return `, ${rows} current row(s) match the events that made them${state.unverifiable.length ? ` (${state.unverifiable.length} imported before imports were itemised: not reconciled)` : ''}`;
}

type Outcome = { ok: boolean; firstBad: VerifyProblem | null; problems: VerifyProblem[]; report: unknown };

async function checkBundle(
  opts: OptionsOf<typeof auditVerify>,
  dir: string,
  ctx: ReturnType<typeof commandContext>,
): Promise<Outcome> {
  if (opts.artifacts) throw new CairnError('USAGE', '--artifacts needs the workspace, not a bundle');
  const trusted = opts.key ? offlineAudit.loadVerifierKey(opts.key) : undefined;
  const against = opts.against ? readFileSync(opts.against, 'utf8') : undefined;
  const r = await offlineAudit.verifyBundle(dir, trusted, against);
  const evidence = await offlineAudit.verifyBundleEvidence(dir, trusted);
  const problems = [...r.problems, ...evidence.problems];
  if (opts.witnessed && !evidence.latest?.witnessed)
    problems.push({
      index: null,
      kind: 'under-witnessed',
      message: evidence.latest
        ? `the bundle's latest checkpoint (size ${evidence.latest.size}) has ${evidence.latest.cosignatures.length} valid cosignature(s); its policy asks for ${evidence.latest.policy}`
        : 'the bundle carries no witness list (witness/witnesses.json)',
    });
  const ok = r.ok && problems.length === 0;
  if (ok && (evidence.cosignedCheckpoints > 0 || evidence.timestampTokens > 0))
    ctx.out.say(
      `evidence: ${evidence.cosignedCheckpoints} cosigned checkpoint(s)${evidence.latest ? `, the latest with ${evidence.latest.cosignatures.length} valid cosignature(s) (policy ${evidence.latest.policy}; witness keys from the bundle's own list)` : ''}, ${evidence.timestampTokens} RFC 3161 token(s) verified with openssl against the bundle's timestamp/ca.pem`,
    );
  if (ok)
    ctx.out.say(
      `ok: ${r.size} entries${withheld(r.redacted)}, ${r.checkpoints} checkpoints, ${r.inclusionProofsChecked} inclusion and ${r.consistencyProofsChecked} consistency proofs verify${trusted ? ', signed by the trusted key' : ' — self-consistent; verified against the bundle’s own key (pass --key to check who signed it)'}`,
    );
  return { ok, firstBad: r.firstBad ?? problems[0] ?? null, problems, report: { ...r, ok, evidence } };
}

export async function run(opts: OptionsOf<typeof auditVerify>): Promise<void> {
  const ctx = commandContext(opts);
  let ok: boolean;
  let firstBad: VerifyProblem | null;
  let problems: VerifyProblem[];
  let report: unknown;
  if (opts.against && !opts.key) {
    // Checked before anything is read: the workspace's (or bundle's) own key would prove only
    // that the log agrees with itself, which a rewrite with that key also does.
    throw new CairnError(
      'UNTRUSTED_KEY',
      `--against needs the verifier key you trust (--key): checking ${opts.against} with the log's own key proves only self-consistency`,
      {
        hint: 'pass --key with the verifier key printed by `cairn init` or `cairn audit checkpoint`, kept outside the workspace',
      },
    );
  }
  if (opts.bundle) {
    ({ ok, firstBad, problems, report } = await checkBundle(opts, opts.bundle, ctx));
  } else {
    let witnessing: WitnessReport | null = null;
    const r = await withServices(opts, 'audit verify', async (s) => {
      const bar = ctx.progress('verifying', 'items');
      try {
        if (opts.witnessed) witnessing = await s.audit.witnessed({ ask: false });
        return await s.audit.verify({
          ...(opts.against ? { againstFile: opts.against } : {}),
          ...(opts.key ? { key: opts.key } : {}),
          deep: opts.deep === true,
          artifacts: opts.artifacts === true,
          onProgress: (n, t) => bar.update(n, t),
        });
      } finally {
        bar.done();
      }
    });
    report = opts.witnessed ? { ...r, witnessing: witnessSummary(witnessing) } : r;
    ({ ok, firstBad, problems } = r);
    if (ok && opts.witnessed) {
      const bad = witnessProblem(witnessing);
      if (bad) {
        ok = false;
        firstBad = bad;
        problems = [bad];
      } else ctx.out.say(witnessLine(witnessing!));
    }
    if (ok) {
      // DESIGN.md §10: "ok" from the key found next to the data proves only self-consistency.
      const trust = r.trusted
        ? `extends the trusted checkpoint of size ${r.trusted.size}, checked with the key you gave`
        : `self-consistent; verified against the workspace's own key${r.kept ? ` and the checkpoint kept in ${r.kept.where} (size ${r.kept.size})` : ''} — pass --against <exported checkpoint> --key <verifier key> to check against one kept elsewhere`;
      ctx.out.say(
        `ok: ${r.size} entries${withheld(r.redacted)}, root ${r.root}, ${r.checkpoints} signed checkpoints consistent${r.artifacts ? `, ${r.artifacts.checked} stored objects re-hashed` : ''}${stateSummary(r.state)}; ${trust}`,
      );
      for (const u of r.state?.unverifiable.slice(0, 20) ?? []) ctx.out.say(`  note: ${u.message}`);
    }
  }
  if (!ok) {
    for (const p of problems.slice(0, 20))
      ctx.out.say(`  ${p.index === null ? '-' : `#${p.index}`} ${p.kind}: ${p.message}`);
    throw new CairnError(
      'CHECK_FAILED',
      `audit log verification failed${firstBad?.index !== null && firstBad ? ` at entry ${firstBad.index}` : ''}: ${firstBad?.message ?? 'see problems'}`,
      {
        // With --json the report travels inside the error: stdout holds one JSON document.
        data: {
          firstBadIndex: firstBad?.index ?? null,
          kind: firstBad?.kind ?? null,
          problems: problems.length,
          report,
        },
      },
    );
  }
  ctx.out.result(report);
}

/** Entries a server sent as leaf hashes only: verified as part of the log, their content not seen. */
function withheld(n: number | undefined): string {
  return n ? ` (${n} withheld from you by the server: checked by their hashes only)` : '';
}
