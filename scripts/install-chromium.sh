#!/usr/bin/env bash
# Installs Debian's chromium for the web UI's browser tests (test/ui/) and the UI benchmark
# (bench/suites/ui.mjs) when it is missing. playwright-core drives it; no browser is downloaded
# by npm. Idempotent: does nothing when /usr/bin/chromium (or $CAIRN_CHROMIUM) is there.
set -euo pipefail

BIN="${CAIRN_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$BIN" ]; then
  echo "install-chromium: $BIN is there ($("$BIN" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-chromium: $BIN is missing and installing it needs root (apt-get install -y chromium)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium
"$BIN" --version
