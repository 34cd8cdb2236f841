// `cairn ui`: the web UI on this workspace (docs/UI.md).
import { spec, flag, text } from '../table/define.js';

export const ui = spec({
  path: 'ui',
  args: [],
  description: 'the web UI on this workspace, on 127.0.0.1 only, as you (runs, models, data, lineage, audit)',
  options: {
    port: text('--port <port>', 'port to listen on (0 picks a free one)', '5000'),
    open: flag('--open', 'open it in your browser'),
  },
});
