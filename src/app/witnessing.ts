import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { writeFileAtomic } from '../storage/objects/durable.js';
import type { AuditLog } from '../audit/log/audit-log.js';
import {
  checkWitnessConfig,
  emptyWitnessConfig,
  formatTransitionHeader,
  witnessCheckpoint,
  type WitnessConfig,
  type WitnessFiles,
  type WitnessReport,
} from '../audit/witness/index.js';
import type { TimestampConfig } from '../audit/timestamp/index.js';

export const WITNESS_DIR = 'witness';

function mkdirP(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CairnError('IO_ERROR', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function readJson(path: string): unknown {
  const text = readText(path);
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CairnError('CONFIG_INVALID', `${path} is not valid JSON`, { cause: err });
  }
}

/**
 * A log's witness files under `<.cairn>/witness/`: config.json (witnesses and policy),
 * sizes.json (the size each witness last cosigned), cosigned/<size>-<root>.note (each checkpoint
 * with its cosignatures). All written atomically. A team server keeps them in its data folder.
 */
export function witnessFiles(cairnDir: string): WitnessFiles {
  const dir = join(cairnDir, WITNESS_DIR);
  const configPath = join(dir, 'config.json');
  const cosignedPath = (size: number, rootHex: string) => join(dir, 'cosigned', `${size}-${rootHex}.note`);
  return {
    where: join('.cairn', WITNESS_DIR),
    readConfig(): WitnessConfig {
      const v = readJson(configPath);
      return v === null ? emptyWitnessConfig() : checkWitnessConfig(v, configPath);
    },
    writeConfig: (config) => writeFileAtomic(configPath, `${JSON.stringify(config, null, 2)}\n`),
    readCosigned: (size, rootHex) => readText(cosignedPath(size, rootHex)),
    writeCosigned: (size, rootHex, note) => writeFileAtomic(cosignedPath(size, rootHex), note),
    readSizes() {
      const v = readJson(join(dir, 'sizes.json'));
      return v !== null && typeof v === 'object' ? (v as Record<string, number>) : {};
    },
    readTsa() {
      const v = readJson(join(cairnDir, 'timestamp', 'config.json')) as TimestampConfig | null;
      if (v !== null && (typeof v.url !== 'string' || (v.ca !== null && typeof v.ca !== 'string')))
        throw new CairnError('CONFIG_INVALID', `${join(cairnDir, 'timestamp', 'config.json')}: expected {"url", "ca"}`);
      return v;
    },
    writeTsa: async (config) => {
      const path = join(cairnDir, 'timestamp', 'config.json');
      if (config === null) rmSync(path, { force: true });
      else await writeFileAtomic(path, `${JSON.stringify(config, null, 2)}\n`);
    },
    readToken(size, rootHex) {
      const base = join(cairnDir, 'timestamp', `${size}-${rootHex}`);
      try {
        return { token: readFileSync(`${base}.tsr`), dataPath: `${base}.checkpoint`, tokenPath: `${base}.tsr` };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    },
    async writeToken(size, rootHex, note, token) {
      const base = join(cairnDir, 'timestamp', `${size}-${rootHex}`);
      // The exact bytes stamped first, then the token: a token is never kept without its data.
      await writeFileAtomic(`${base}.checkpoint`, note);
      await writeFileAtomic(`${base}.tsr`, token);
      return { dataPath: `${base}.checkpoint`, tokenPath: `${base}.tsr` };
    },
    async exportTo(dest) {
      let cosigned = 0;
      let tokens = 0;
      const config = this.readConfig();
      if (config.witnesses.length > 0)
        writeFileSync(join(mkdirP(join(dest, 'witness')), 'witnesses.json'), `${JSON.stringify(config, null, 2)}\n`);
      const from = join(dir, 'cosigned');
      if (existsSync(from))
        for (const f of readdirSync(from).filter((n) => n.endsWith('.note'))) {
          copyFileSync(join(from, f), join(mkdirP(join(dest, 'witness', 'cosigned')), f));
          cosigned++;
        }
      const ts = join(cairnDir, 'timestamp');
      if (existsSync(ts))
        for (const f of readdirSync(ts).filter((n) => /\.(tsr|checkpoint)$/.test(n))) {
          copyFileSync(join(ts, f), join(mkdirP(join(dest, 'timestamp')), f));
          if (f.endsWith('.tsr')) tokens++;
        }
      const ca = this.readTsa()?.ca;
      if (ca) writeFileSync(join(mkdirP(join(dest, 'timestamp')), 'ca.pem'), ca);
      return { cosigned, tokens };
    },
    // Only a hint (a wrong size costs one 409 round trip), so it is not worth an fsync per checkpoint.
    writeSizes: (sizes) =>
      writeFileAtomic(join(dir, 'sizes.json'), `${JSON.stringify(sizes, null, 2)}\n`, { durable: false }),
  };
}

/** How long one witness may take to answer (CAIRN_WITNESS_TIMEOUT_MS, default 5 s). */
export function witnessTimeoutMs(env: NodeJS.ProcessEnv): number {
  const v = Number(env.CAIRN_WITNESS_TIMEOUT_MS ?? 5000);
  return Number.isFinite(v) && v > 0 ? v : 5000;
}

/**
 * Sends the latest checkpoint to the witnesses after a command wrote to the log. The local
 * write is committed already and stays; a witness that is down or refuses only leaves the
 * checkpoint under-witnessed, which `warn` says plainly (and `audit verify --witnessed` refuses).
 */
export async function witnessAfterWrite(
  audit: AuditLog,
  witnessing: { files: WitnessFiles; timeoutMs: number },
  warn: (message: string) => void,
): Promise<WitnessReport | null> {
  const cp = await audit.latestCheckpoint();
  return cp ? ((await witnessNote(audit, witnessing, cp.note, warn))?.report ?? null) : null;
}

/**
 * Asks the witnesses (and the TSA) about one checkpoint note. Never throws: a broken witness
 * config, a witness that is down or a TSA that refuses is warned about, and the caller goes on
 * with what there is. Null when nothing is configured or nothing could be asked.
 */
async function witnessNote(
  audit: AuditLog,
  witnessing: { files: WitnessFiles; timeoutMs: number },
  note: string,
  warn: (message: string) => void,
): Promise<{ report: WitnessReport; config: WitnessConfig; tsa: TimestampConfig | null } | null> {
  let config: WitnessConfig;
  let tsa: TimestampConfig | null;
  try {
    config = witnessing.files.readConfig();
    tsa = witnessing.files.readTsa();
  } catch (err) {
    warn(`warning: witnesses not asked: ${(err as Error).message}`);
    return null;
  }
  if (config.witnesses.length === 0 && tsa === null) return null;
  try {
    const r = await witnessCheckpoint({
      files: witnessing.files,
      note,
      ask: true,
      timeoutMs: witnessing.timeoutMs,
      proof: async (from, to) => (await audit.consistency(from, to)).map((h) => Buffer.from(h, 'hex')),
      // A witness that pinned an older audit key follows the log's transitions (docs/AUDIT.md §9).
      transitions: async (size) => formatTransitionHeader(await audit.keyTransitionsAt(size)),
    });
    if (r.timestamp && 'error' in r.timestamp)
      warn(`warning: checkpoint ${r.size} has no trusted time: ${r.timestamp.error}`);
    for (const f of r.failures) warn(`warning: witness ${f.url} did not cosign checkpoint ${r.size}: ${f.reason}`);
    if (r.policy > 0 && !r.witnessed)
      warn(
        `warning: checkpoint ${r.size} is under-witnessed: ${r.cosignatures.length} of the ${r.policy} cosignature(s) the policy asks for (the local log is intact; retry with \`cairn audit witness status --retry\`)`,
      );
    return { report: r, config, tsa };
  } catch (err) {
    // A checkpoint note's second line is its size.
    warn(`warning: checkpoint ${note.split('\n')[1]} was not sent to the witnesses: ${(err as Error).message}`);
    return null;
  }
}

/**
 * What a release bundle carries for the checkpoint its audit proofs use (docs/RELEASES.md): the
 * witness list, that checkpoint as the witnesses cosigned it (asked now if they have not yet), and
 * its RFC 3161 token with the TSA's CA. Nothing when the log has neither witnesses nor a TSA; a
 * witness that does not answer is warned about and the bundle is written with what there is.
 */
export async function releaseEvidence(
  audit: AuditLog,
  witnessing: { files: WitnessFiles; timeoutMs: number },
  note: string,
  warn: (message: string) => void,
): Promise<Array<{ path: string; data: string | Buffer }>> {
  const asked = await witnessNote(audit, witnessing, note, warn);
  if (!asked) return [];
  const { report: r, config, tsa } = asked;
  const out: Array<{ path: string; data: string | Buffer }> = [];
  const base = `${r.size}-${r.root}`;
  if (config.witnesses.length > 0) {
    out.push({ path: 'witness/witnesses.json', data: `${JSON.stringify(config, null, 2)}\n` });
    if (r.cosignatures.length > 0) out.push({ path: `witness/cosigned/${base}.note`, data: r.cosignedNote });
  }
  const token = witnessing.files.readToken(r.size, r.root);
  if (token) {
    out.push({ path: `timestamp/${base}.tsr`, data: token.token });
    out.push({ path: `timestamp/${base}.checkpoint`, data: readFileSync(token.dataPath) });
    if (tsa?.ca) out.push({ path: 'timestamp/ca.pem', data: tsa.ca });
  }
  return out;
}
