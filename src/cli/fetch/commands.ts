// The fetch commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, text } from '../table/define.js';

export const fetch = spec({
  path: 'fetch',
  args: [],
  description:
    "materialize and verify the models a cairn.lock pins (pulling them by digest if needed): for the product's CI",
  options: {
    lock: text('--lock <file>', 'the lock file', 'cairn.lock'),
    dir: text('--dir <dir>', 'where the models go (one folder each)', 'models'),
    remote: text('--remote <name>', 'the remote to pull from'),
  },
});
