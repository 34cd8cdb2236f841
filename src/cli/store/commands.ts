// The store commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, flag } from '../table/define.js';

export const fsck = spec({
  path: 'fsck',
  args: [],
  description: 're-hash every stored object; name corrupt or missing ones and the versions they break',
  options: {
    repair: flag(
      '--repair',
      "first restore the blob index from the packs' own indexes where it lost or misplaced live blobs",
    ),
  },
});

export const gc = spec({
  path: 'gc',
  args: [],
  description: 'delete stored objects nothing references',
  options: {
    dryRun: flag('--dry-run', 'only report what would be deleted'),
    purge: flag('--purge', 'rewrite every pack that holds an unreferenced object, so none of its bytes stay on disk'),
  },
});
