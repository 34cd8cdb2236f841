import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { urlSecret } from '../core/url-secrets.js';
import { writeFileAtomic } from '../storage/objects/durable.js';

/**
 * `.cairn/config.json`. JSON rather than YAML so that every command can read it without
 * loading a parser; validated by hand (all problems reported at once, with their key paths).
 */
export const CONFIG_FILE = 'config.json';

export interface WorkspaceConfig {
  version: 1;
  workspace: { id: string; created: string };
  identity: { id?: string };
  metadata: { url: string };
  storage: { pack_size_mib: number; workers?: number };
  audit: { origin: string };
}

export function defaultConfig(id: string, created: string, metadataUrl?: string): WorkspaceConfig {
  return {
    version: 1,
    workspace: { id, created },
    identity: {},
    metadata: { url: metadataUrl ?? 'sqlite:meta.db' },
    storage: { pack_size_mib: 32 },
    audit: { origin: `cairn.local/${id}` },
  };
}

type Rule = (v: unknown) => string | null;
const str =
  (min = 1, max = 1000): Rule =>
  (v) =>
    typeof v === 'string' && v.length >= min && v.length <= max
      ? null
      : `expected a string of ${min}–${max} characters`;
const int =
  (min: number, max: number): Rule =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max
      ? null
      : `expected a whole number from ${min} to ${max}`;

const shape: Record<string, Record<string, { rule: Rule; optional?: boolean }>> = {
  workspace: {
    id: { rule: (v) => (typeof v === 'string' && /^[0-9a-f-]{36}$/.test(v) ? null : 'expected a UUID') },
    created: { rule: str() },
  },
  identity: { id: { rule: str(1, 200), optional: true } },
  // The password lives in the environment or keys/metadata-password (docs/CONFIG.md), never here.
  metadata: {
    url: {
      rule: (v) =>
        str()(v) ??
        (urlSecret(v as string)
          ? 'must not carry a password or credential: move it to CAIRN_METADATA_PASSWORD or .cairn/keys/metadata-password (docs/CONFIG.md)'
          : null),
    },
  },
  storage: { pack_size_mib: { rule: int(1, 1024) }, workers: { rule: int(1, 256), optional: true } },
  audit: {
    origin: {
      rule: (v) => (typeof v === 'string' && /^[^\s+]+$/.test(v) ? null : 'expected a name without spaces or +'),
    },
  },
};

export function validateConfig(raw: unknown): { config: WorkspaceConfig | null; problems: string[] } {
  const problems: string[] = [];
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    return { config: null, problems: ['(root): expected an object'] };
  const obj = raw as Record<string, unknown>;
  if (obj.version !== 1) problems.push(`version: expected 1, got ${JSON.stringify(obj.version)}`);
  for (const key of Object.keys(obj)) if (key !== 'version' && !(key in shape)) problems.push(`${key}: unknown key`);
  for (const [section, fields] of Object.entries(shape)) {
    const sec = obj[section] ?? (section === 'identity' ? {} : undefined);
    if (!sec || typeof sec !== 'object' || Array.isArray(sec)) {
      problems.push(`${section}: expected an object`);
      continue;
    }
    const s = sec as Record<string, unknown>;
    for (const key of Object.keys(s)) if (!(key in fields)) problems.push(`${section}.${key}: unknown key`);
    for (const [key, f] of Object.entries(fields)) {
      if (s[key] === undefined) {
        if (!f.optional) problems.push(`${section}.${key}: required`);
        continue;
      }
      const p = f.rule(s[key]);
      if (p) problems.push(`${section}.${key}: ${p}`);
    }
  }
  return problems.length
    ? { config: null, problems }
    : {
        config: {
          ...(obj as unknown as WorkspaceConfig),
          identity: (obj.identity as WorkspaceConfig['identity']) ?? {},
        },
        problems,
      };
}

export function loadConfig(cairnDir: string): WorkspaceConfig {
  const file = join(cairnDir, CONFIG_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CairnError('CONFIG_INVALID', `cannot read ${file}: ${(err as Error).message}`, {
      cause: err,
      hint: 'fix the JSON by hand (see docs/CONFIG.md)',
    });
  }
  const { config, problems } = validateConfig(raw);
  if (!config)
    throw new CairnError('CONFIG_INVALID', `${file} is invalid:\n  ${problems.join('\n  ')}`, {
      data: { problems },
      hint: 'see docs/CONFIG.md',
    });
  return config;
}

export async function saveConfig(cairnDir: string, config: WorkspaceConfig): Promise<void> {
  // Owner-only, like everything in .cairn/ that says where the data and its database are.
  await writeFileAtomic(join(cairnDir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}
