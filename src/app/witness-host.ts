import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { CairnError } from '../core/errors.js';
import { writeFileAtomic } from '../storage/objects/durable.js';
import {
  generateSigningKeyPair,
  isValidKeyName,
  parseVerifierKey,
  privateKeyFromPem,
  privateKeyToPem,
  type NoteVerifier,
} from '../audit/note/index.js';
import { cosignerOf, formatCosignerVkey, Witness, type AddCheckpointOutcome } from '../audit/witness/index.js';

/** What `cairn witness serve` runs: one witness identity and the logs it vouches for. */
export interface WitnessHost {
  name: string;
  vkey: string;
  dataDir: string;
  /** `transitionHeader`: the log's key transitions presented with the checkpoint (cairn-key-transition). */
  addCheckpoint(body: string, transitionHeader?: string): Promise<AddCheckpointOutcome>;
  logs(): Array<{ origin: string; vkey: string }>;
}

interface HostConfig {
  name: string;
  logs: Array<{ origin: string; vkey: string }>;
}

const KEY_FILE = 'witness.key';
const CONFIG_FILE = 'witness.json';

function readConfig(dir: string): HostConfig | null {
  let text: string;
  try {
    text = readFileSync(join(dir, CONFIG_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let v: HostConfig;
  try {
    v = JSON.parse(text) as HostConfig;
  } catch (err) {
    throw new CairnError('CONFIG_INVALID', `${join(dir, CONFIG_FILE)} is not valid JSON`, { cause: err });
  }
  if (!isValidKeyName(v?.name) || !Array.isArray(v.logs))
    throw new CairnError('CONFIG_INVALID', `${join(dir, CONFIG_FILE)}: expected {"name", "logs": [...]}`);
  for (const l of v.logs) parseVerifierKey(l.vkey);
  return v;
}

/**
 * Opens (creating on first use) a witness data folder: witness.key (Ed25519, 0600),
 * witness.json (its name and the logs it witnesses: origin and the log's verifier key), logs/
 * (what it last cosigned per origin) and evidence/ (refused requests that carried a valid log
 * signature). The log list is re-read when the file changes, so add-log needs no restart.
 */
export async function openWitnessHost(opts: { dataDir: string; name?: string }): Promise<WitnessHost> {
  const dir = resolve(opts.dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let config = readConfig(dir);
  if (config === null) {
    const name = opts.name ?? `${hostname()}/cairn-witness`;
    if (!isValidKeyName(name)) throw new CairnError('USAGE', `invalid witness name ${JSON.stringify(name)}`);
    config = { name, logs: [] };
    await writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
  } else if (opts.name && opts.name !== config.name) {
    throw new CairnError(
      'USAGE',
      `this witness is named ${config.name}; its name cannot change (its key ID commits to it)`,
    );
  }
  const keyPath = join(dir, KEY_FILE);
  let pem: string;
  try {
    pem = readFileSync(keyPath, 'utf8');
    const mode = statSync(keyPath).mode & 0o777;
    if ((mode & 0o077) !== 0 && process.platform !== 'win32')
      throw new CairnError('CONFIG_INVALID', `${keyPath} is readable by other users (mode ${mode.toString(8)})`, {
        hint: `run: chmod 600 ${keyPath}`,
      });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    pem = privateKeyToPem(generateSigningKeyPair().privateKey);
    await writeFileAtomic(keyPath, pem, { mode: 0o600 });
    chmodSync(keyPath, 0o600);
  }
  const cosigner = cosignerOf(config.name, privateKeyFromPem(pem));
  let cached: { mtimeMs: number; logs: Map<string, NoteVerifier[]>; list: HostConfig['logs'] } | null = null;
  const current = () => {
    const mtimeMs = statSync(join(dir, CONFIG_FILE)).mtimeMs;
    if (!cached || cached.mtimeMs !== mtimeMs) {
      const c = readConfig(dir)!;
      const logs = new Map<string, NoteVerifier[]>();
      for (const l of c.logs) logs.set(l.origin, [...(logs.get(l.origin) ?? []), parseVerifierKey(l.vkey)]);
      cached = { mtimeMs, logs, list: c.logs };
    }
    return cached;
  };
  const witness = new Witness({ dataDir: dir, cosigner, trusted: (origin) => current().logs.get(origin) ?? null });
  return {
    name: config.name,
    vkey: formatCosignerVkey(config.name, cosigner.rawPublicKey),
    dataDir: dir,
    addCheckpoint: (body, transitionHeader) => witness.addCheckpoint(body, transitionHeader),
    logs: () => current().list,
  };
}

/** Adds a log (its origin and verifier key) to the witness in `dataDir`. */
export async function addWitnessedLog(opts: { dataDir: string; origin: string; vkey: string }): Promise<WitnessHost> {
  const host = await openWitnessHost({ dataDir: opts.dataDir });
  const key = parseVerifierKey(opts.vkey);
  if (key.name !== opts.origin)
    throw new CairnError(
      'USAGE',
      `the key is named ${key.name}, not ${opts.origin}: a log signs its checkpoints with a key named after its origin`,
    );
  const config = readConfig(host.dataDir)!;
  const logs = [
    ...config.logs.filter((l) => !(l.origin === opts.origin && l.vkey === opts.vkey)),
    { origin: opts.origin, vkey: opts.vkey },
  ];
  await writeFileAtomic(join(host.dataDir, CONFIG_FILE), `${JSON.stringify({ ...config, logs }, null, 2)}\n`);
  return host;
}
