#!/usr/bin/env bash
# Tools the key-custody tests drive, installed only when missing: python3 with the
# `cryptography` package (the independent OpenSSF Model Signing verifier, test/oms/) and
# SoftHSM2 + OpenSC's pkcs11-tool (a PKCS #11 token for key custody tests).
set -euo pipefail

need=()
if ! python3 -c 'import cryptography' 2>/dev/null && ! /usr/bin/python3 -c 'import cryptography' 2>/dev/null; then
  need+=(python3-cryptography)
fi
command -v softhsm2-util >/dev/null || need+=(softhsm2)
command -v pkcs11-tool >/dev/null || need+=(opensc)

if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
