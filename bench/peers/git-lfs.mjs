// Peer "git-lfs": `git add big.bin` in a fresh repo with `git lfs track "*.bin"`. The add runs
// the LFS clean filter: git streams the file to git-lfs, which hashes it (sha256) and copies it
// into .git/lfs/objects. `git commit` is timed separately (it only writes the small pointer
// blob, tree and commit). Neither git (core.fsync default) nor git-lfs fsync the object data,
// so this is not a durable store. Isolated from user/system git config.
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { runCmd, mustRun, settle, repeat, du, median, CommandError, brief, toolVersion } from '../lib/measure.mjs';
import { freshDir, stage, removeTree, mibPerS } from './common.mjs';

export const name = 'git-lfs';

function gitEnv(dir) {
  return {
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: path.join(dir, 'gitconfig'),
    GIT_AUTHOR_NAME: 'cairn-bench',
    GIT_AUTHOR_EMAIL: 'bench@cairn.invalid',
    GIT_COMMITTER_NAME: 'cairn-bench',
    GIT_COMMITTER_EMAIL: 'bench@cairn.invalid',
    GIT_AUTHOR_DATE: '2000-01-01T00:00:00Z',
    GIT_COMMITTER_DATE: '2000-01-01T00:00:00Z',
    GIT_TERMINAL_PROMPT: '0',
  };
}

export async function run(data, work, opts = {}) {
  const git = toolVersion(['git', '--version']);
  const lfs = toolVersion(['git', 'lfs', 'version']);
  if (!git || !lfs) return { error: { message: 'git or git-lfs not installed (run scripts/install-bench-peers.sh)' } };
  await freshDir(work);
  const m = await repeat(
    opts.repeat ?? 3,
    async (i) => {
      const dir = await freshDir(path.join(work, `rep-${i}`));
      const repo = path.join(dir, 'repo');
      const env = gitEnv(dir);
      await writeFile(env.GIT_CONFIG_GLOBAL, '');
      await mustRun(['git', 'init', '-q', repo], { env });
      await mustRun(['git', 'lfs', 'install', '--local'], { cwd: repo, env });
      await mustRun(['git', 'lfs', 'track', '*.bin'], { cwd: repo, env });
      await mustRun(['git', 'add', '.gitattributes'], { cwd: repo, env });
      await mustRun(['git', 'commit', '-q', '-m', 'track *.bin'], { cwd: repo, env });
      const file = path.join(repo, 'big.bin');
      await stage(data.big.path, file);
      await settle([file]);
      const add = await runCmd(['git', 'add', 'big.bin'], { cwd: repo, env });
      if (!add.ok) throw new CommandError(add);
      await settle([]);
      const commit = await runCmd(['git', 'commit', '-q', '-m', 'add big.bin'], { cwd: repo, env });
      if (!commit.ok) throw new CommandError(commit);
      const lfsObjects = await du(path.join(repo, '.git', 'lfs', 'objects'));
      await removeTree(dir, opts.keepWork);
      return { ...brief(add), commit: brief(commit), lfsObjects };
    },
    { warmup: opts.warmup ?? 1 },
  );
  const commitS = median(m.runs.map((r) => r.commit.wallS));
  return {
    version: `${git}; ${lfs}`,
    add: { ...m, mibPerS: mibPerS(data.big.bytes, m.wallS), storedBytes: m.runs[0]?.lfsObjects.bytes ?? null },
    commit: { wallS: commitS, peakRssKiB: median(m.runs.map((r) => r.commit.peakRssKiB)) },
    addPlusCommit: { wallS: m.wallS != null && commitS != null ? m.wallS + commitS : null },
    ...(m.error ? { error: m.error } : {}),
  };
}
