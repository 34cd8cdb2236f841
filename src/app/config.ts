import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { CairnError } from '../core/errors.js';
import { writeFileAtomic } from '../storage/objects/durable.js';

export const CONFIG_FILE = 'config.yaml';

const configSchema = z
  .object({
    version: z.literal(1),
    workspace: z.object({ id: z.string().uuid(), created: z.string() }).strict(),
    identity: z.object({ id: z.string().min(1).max(200).optional() }).strict().default({}),
    metadata: z.object({ url: z.string().min(1) }).strict(),
    storage: z
      .object({
        pack_size_mib: z.number().int().min(1).max(1024).default(32),
        workers: z.number().int().min(1).max(256).optional(),
      })
      .strict()
      .default({ pack_size_mib: 32 }),
    audit: z.object({ origin: z.string().min(1).regex(/^[^\s+]+$/, 'no spaces or +') }).strict(),
  })
  .strict();

export type WorkspaceConfig = z.infer<typeof configSchema>;

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

/** Reads and validates the whole file, reporting every problem at once with its key path. */
export function loadConfig(cairnDir: string): WorkspaceConfig {
  const file = join(cairnDir, CONFIG_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CairnError('CONFIG_INVALID', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new CairnError('CONFIG_INVALID', `${file} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new CairnError('CONFIG_INVALID', `${file} is invalid:\n  ${problems.join('\n  ')}`, { data: { problems } });
  }
  return parsed.data;
}

export async function saveConfig(cairnDir: string, config: WorkspaceConfig): Promise<void> {
  const header = '# Cairn workspace configuration (docs/CONFIG.md).\n';
  await writeFileAtomic(join(cairnDir, CONFIG_FILE), header + YAML.stringify(config));
}
