// setupFiles of the `shared` vitest project (vitest.config.ts): its files run one after another in
// the same worker process, so a file that leaves an environment variable set, the working directory
// changed or fake timers on would change what the next file tests. This runs before each file and
// checks after it (its afterAll runs after the file's own: after-hooks run as a stack): the leak is
// undone for the next file, and the file that left it fails, naming what it left, whether it ran
// alone or in the whole suite.
import { afterAll } from 'vitest';
import { processState, undoLeaks } from './process-leaks.js';

const before = processState();

afterAll(() => {
  const left = undoLeaks(before);
  if (left.length > 0)
    throw new Error(
      `this file shares its worker process with other test files but left changed: ${left.join(', ')}. ` +
        'Restore them in the file, or list it in isolatedAnyway (vitest.config.ts).',
    );
});
