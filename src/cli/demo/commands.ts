// The demo commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, flag, text } from '../table/define.js';

export const demo = spec({
  path: 'demo',
  args: [],
  description: 'run Cairn end to end on real data in a throwaway workspace',
  options: {
    dir: text('--dir <dir>', 'where to create the demo workspace (default: a new temp directory)'),
    keep: flag('--keep', 'keep the demo workspace afterwards'),
  },
});
