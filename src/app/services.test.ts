import { describe, expect, it } from 'vitest';
import { newWorkspace } from '../test-support/workspace.js';
import { useTempDirs } from '../test-support/temp.js';
import { buildServices } from './services.js';

describe('services built by app/', () => {
  const tmp = useTempDirs();

  it('a lazy service is no thenable: awaiting it yields the service, whose calls still work', async () => {
    const ws = await newWorkspace(tmp());
    try {
      const s = buildServices(ws);
      const datasets = await Promise.resolve(s.datasets);
      expect(datasets).toBe(s.datasets);
      expect(await datasets.list()).toEqual([]);
    } finally {
      await ws.close();
    }
  });
});
