#!/usr/bin/env bash
# Sets up everything the spam classifier needs, with Cairn commands only: a workspace in this
# folder, the SpamAssassin corpus (shipped with Cairn) as a dataset, a cleaned copy with every
# e-mail address and phone number redacted, and a train/test split stratified by label.
# Run it in a fresh copy of this folder with `cairn` on the PATH; then `cairn run`.
set -euo pipefail
cd "$(dirname "$0")"
SPAM=$(cairn sdk paths --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["spam"])')
[ -d .cairn ] || cairn init
cairn data add "$SPAM" --name emails -m "SpamAssassin public corpus"
cat > recipe.yaml <<'YAML'
recipe: emails-redacted
files:
  - select: {include: ["*/*.txt"]}
  - drop_duplicates:
  - redact_pii: {extensions: [.txt], kinds: [email, phone, card, iban]}
YAML
cairn data clean emails --recipe recipe.yaml --name emails-redacted
cairn data split emails-redacted --name emails --ratios train=0.8,test=0.2 --stratify label --labels folder
cairn data ls
