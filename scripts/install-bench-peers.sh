#!/usr/bin/env bash
# Installs the peer tools the benchmarks (bench/run.mjs) compare Cairn against:
#   restic, git + git-lfs, GNU time (/usr/bin/time -v / -f %M for peak RSS), hyperfine (optional),
#   python3-pandas (the `dataprep` suite's pandas peer, run as /usr/bin/python3; Debian ships no
#   pyarrow / fastparquet, so that pandas has no Parquet engine), rclone (the `transfer` suite's
#   peer: `rclone copy` to the same S3 server Cairn pushes to).
# Debian/Ubuntu only (apt-get). Idempotent: packages already present are not reinstalled.
# Safe to re-run; always ends by printing the versions it finds.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-bench-peers: need root or sudo to run apt-get" >&2; exit 1
  fi
fi

# package -> a file/command that proves it is installed
declare -A PROBE=(
  [git]="git"
  [git-lfs]="git-lfs"
  [restic]="restic"
  [time]="/usr/bin/time"
  [hyperfine]="hyperfine"
  [python3-pandas]="/usr/bin/python3 -c 'import pandas'"
  [rclone]="rclone"
)

missing=()
for pkg in git git-lfs restic time hyperfine python3-pandas rclone; do
  probe="${PROBE[$pkg]}"
  if [ "$pkg" = python3-pandas ]; then
    /usr/bin/python3 -c 'import pandas' >/dev/null 2>&1 || missing+=("$pkg")   # a module, not a command
  elif [[ "$probe" == /* ]]; then
    [ -x "$probe" ] || missing+=("$pkg")
  else
    command -v "$probe" >/dev/null 2>&1 || missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-bench-peers: installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # hyperfine is optional (not in every release); install the required ones first.
  required=()
  for p in "${missing[@]}"; do [ "$p" = hyperfine ] || required+=("$p"); done
  if [ "${#required[@]}" -gt 0 ]; then
    $SUDO apt-get install -y -qq --no-install-recommends "${required[@]}"
  fi
  if [[ " ${missing[*]} " == *" hyperfine "* ]]; then
    $SUDO apt-get install -y -qq --no-install-recommends hyperfine \
      || echo "install-bench-peers: hyperfine not available (optional, skipped)"
  fi
else
  echo "install-bench-peers: all peers already installed"
fi

echo "--- versions ---"
git --version
git lfs version
restic version
/usr/bin/time --version 2>&1 | head -n1
if command -v hyperfine >/dev/null 2>&1; then hyperfine --version; else echo "hyperfine: not installed (optional)"; fi
/usr/bin/python3 -c 'import pandas, numpy, sys; print("python", sys.version.split()[0], "pandas", pandas.__version__, "numpy", numpy.__version__)' \
  || echo "pandas: not importable by /usr/bin/python3"
if command -v rclone >/dev/null 2>&1; then rclone version | sed -n 1p; else echo "rclone: not installed"; fi
dd --version | head -n1
cp --version | head -n1
