import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../test-support/prng.js';
import { serverJobBaseEnv } from './compute.js';

// What a team server's job keeps of the server's environment: an allowlist, never a secret.
const KEPT = ['PATH', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'HOME', 'USER', 'LOGNAME', 'LD_LIBRARY_PATH'];
const KEPT_PREFIXES = ['LC_', 'CUDA_', 'NVIDIA_'];
const DROPPED = [
  'AWS_SECRET_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SESSION_TOKEN',
  'PGPASSWORD',
  'DATABASE_URL',
  'CAIRN_METADATA_URL',
  'CAIRN_OIDC_CLIENT_SECRET',
  'CAIRN_TOKEN',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'SSH_AUTH_SOCK',
  'PYTHONPATH',
  'XPATH',
  'MY_LC_SECRET',
];

describe('serverJobBaseEnv', () => {
  it('over random environments: keeps exactly the allowlisted names with their values; PATH and HOME always set', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = mulberry32(seed);
      const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;
      const env: NodeJS.ProcessEnv = {};
      const n = Math.floor(rnd() * 12);
      for (let i = 0; i < n; i++) {
        const r = rnd();
        const name =
          r < 0.3 ? pick(KEPT) : r < 0.5 ? `${pick(KEPT_PREFIXES)}X${i}` : r < 0.9 ? pick(DROPPED) : `RANDOM_${i}`;
        env[name] = `v${seed}-${i}`;
      }
      const base = serverJobBaseEnv(env);
      const kept = (name: string) => KEPT.includes(name) || KEPT_PREFIXES.some((p) => name.startsWith(p));
      for (const [name, value] of Object.entries(env))
        if (kept(name)) expect(base[name], `seed ${seed}: ${name}`).toBe(value);
        else expect(base, `seed ${seed}: ${name} reached the job`).not.toHaveProperty(name);
      for (const name of Object.keys(base)) expect(kept(name), `seed ${seed}: ${name}`).toBe(true);
      expect(base.PATH, `seed ${seed}`).toBeTruthy();
      expect(base.HOME, `seed ${seed}`).toBeTruthy();
    }
  });
});
