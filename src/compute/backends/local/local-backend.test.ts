import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeBackendConformance } from '../conformance.case.js';
import { LocalBackend } from './local-backend.js';

computeBackendConformance('local', () => {
  const root = mkdtempSync(join(tmpdir(), 'cairn-local-'));
  return {
    backend: async () => new LocalBackend({ stateDir: join(root, 'state'), gpus: [], sampleIntervalMs: 200 }),
    dir: () => mkdtempSync(join(root, 'jobs-')),
  };
});
