import { sha256Hex } from '../../core/digest.js';
import { CairnError } from '../../core/errors.js';
import type { AuditLog } from '../log/audit-log.js';
import { parseCosignerVkey } from './cosignature.js';
import { formatTransitionHeader } from './request.js';
import { witnessCheckpoint, type WitnessConfig, type WitnessFiles, type WitnessReport } from './log-witnessing.js';

/** The witness half of the audit service: configuration (audited) and the state of the latest checkpoint. */
export function witnessMethods(ports: {
  audit: AuditLog;
  origin: string;
  witnessing?: { files: WitnessFiles; timeoutMs: number };
}) {
  const files = () => {
    if (!ports.witnessing) throw new CairnError('UNSUPPORTED', 'this log has no place to keep witness configuration');
    return ports.witnessing.files;
  };
  const change = (params: Record<string, unknown>, next: (c: WitnessConfig) => WitnessConfig) =>
    ports.audit.audited(
      { action: 'audit.witness.config', target: { type: 'audit-log', name: ports.origin } },
      async (commit, draft) => {
        const config = next(files().readConfig());
        // The file is written inside the transaction: when the event cannot be appended, the
        // change does not happen either.
        await commit(async () => {
          draft.params = { ...params, policy: config.policy, witnesses: config.witnesses.length };
          await files().writeConfig(config);
        });
        return config;
      },
    );
  const witnessed = async (ask: boolean, note?: string): Promise<WitnessReport> => {
    const cp = note ?? (await ports.audit.latestCheckpoint())?.note;
    if (!cp) throw new CairnError('NOT_FOUND', 'the audit log has no checkpoint yet');
    return witnessCheckpoint({
      files: files(),
      note: cp,
      ask,
      timeoutMs: ports.witnessing?.timeoutMs ?? 5000,
      proof: async (from, to) => (await ports.audit.consistency(from, to)).map((h) => Buffer.from(h, 'hex')),
      // Witnesses that pinned an older audit key follow the log's transitions (docs/AUDIT.md §9).
      transitions: async (size) => formatTransitionHeader(await ports.audit.keyTransitionsAt(size)),
    });
  };
  return {
    witnessed: ({ ask }: { ask: boolean }) => witnessed(ask),
    /** After a checkpoint is signed: sent to the witnesses, when there are any. */
    afterCheckpoint: async (note: string): Promise<WitnessReport | null> =>
      ports.witnessing && (files().readConfig().witnesses.length > 0 || files().readTsa() !== null)
        ? witnessed(true, note)
        : null,
    setTimestampAuthority: (url: string | null, ca: string | null) => setTsa(ports, files, url, ca),
    witnessConfig: async () => ({ ...files().readConfig(), where: files().where }),
    addWitness: async (url: string, vkey: string) => {
      const key = parseCosignerVkey(vkey);
      checkHttpUrl(url, 'a witness URL');
      return change({ op: 'add', url, vkey: key.vkey }, (c) => ({
        ...c,
        witnesses: [...c.witnesses.filter((w) => w.url !== url && w.vkey !== key.vkey), { url, vkey: key.vkey }],
      }));
    },
    removeWitness: async (which: string) => {
      const c = files().readConfig();
      const gone = c.witnesses.filter((w) => w.url === which || w.vkey === which || w.vkey.split('+')[0] === which);
      if (gone.length === 0)
        throw new CairnError('NOT_FOUND', `no witness ${which}`, { hint: 'see `cairn audit witness ls`' });
      const left = c.witnesses.length - gone.length;
      if (c.policy > left)
        throw new CairnError('USAGE', `the policy needs ${c.policy} witnesses; only ${left} would be left`, {
          hint: `lower it first: cairn audit witness policy ${left}`,
        });
      return change({ op: 'remove', url: gone[0]!.url, vkey: gone[0]!.vkey }, (cur) => ({
        ...cur,
        witnesses: cur.witnesses.filter((w) => !gone.some((g) => g.vkey === w.vkey)),
      }));
    },
    setWitnessPolicy: async (k: number) => {
      const n = files().readConfig().witnesses.length;
      if (!Number.isSafeInteger(k) || k < 0 || k > n)
        throw new CairnError('USAGE', `the policy must be between 0 and the ${n} configured witness(es), not ${k}`);
      return change({ op: 'policy' }, (c) => ({ ...c, policy: k }));
    },
  };
}

/** Sets or removes the log's timestamp authority, in the same transaction as its audit event. */
async function setTsa(
  ports: { audit: AuditLog; origin: string },
  files: () => WitnessFiles,
  url: string | null,
  ca: string | null,
) {
  if (url !== null) {
    checkHttpUrl(url, 'a timestamp authority URL');
    if (ca !== null && !/-----BEGIN CERTIFICATE-----/.test(ca))
      throw new CairnError('INVALID_INPUT', 'the CA file holds no PEM certificate');
  }
  const config = url === null ? null : { url, ca };
  return ports.audit.audited(
    { action: 'audit.timestamp.config', target: { type: 'audit-log', name: ports.origin } },
    async (commit, draft) => {
      await commit(async () => {
        draft.params = { url, ca: ca === null ? null : sha256Hex(ca) };
        await files().writeTsa(config);
      });
      return config;
    },
  );
}

function checkHttpUrl(url: string, what: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CairnError('USAGE', `not a URL: ${url}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new CairnError('USAGE', `${what} is http:// or https://, not ${parsed.protocol}`);
}
