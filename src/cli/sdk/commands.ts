// The sdk commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec } from '../table/define.js';

export const sdkPaths = spec({
  path: 'sdk paths',
  args: ['name?'],
  description: 'where the Python helper, the Node SDK and the bundled datasets are',
  options: {},
});
