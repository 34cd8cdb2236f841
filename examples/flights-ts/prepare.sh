#!/usr/bin/env bash
# Sets up the flight-delay model with Cairn commands only: a workspace in this folder, the 3
# million real flights (shipped with Cairn) as a dataset, validated, cleaned (implausible
# delays and duplicates dropped) and split 80/20 by the documented hash; then compiles
# train.ts with the TypeScript compiler that comes with Cairn's development install.
# Run it in a fresh copy of this folder with `cairn` on the PATH; then `cairn run`.
set -euo pipefail
cd "$(dirname "$0")"
paths=$(cairn sdk paths --json)
FLIGHTS=$(printf '%s' "$paths" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).data.flights))')
TSC=$(printf '%s' "$paths" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).typescript ?? ""))')
[ -d .cairn ] || cairn init
cairn data add "$FLIGHTS" --name flights -m "vega-datasets flights-3m"
cat > suite.yaml <<'YAML'
suite: flights
checks:
  - row_count: {min: 1000000}
  - not_null: [date, delay, distance, origin, destination]
  - range: {column: distance, min: 1, max: 6000}
  - regex: {column: origin, pattern: "[A-Z]{3}"}
YAML
cairn data validate flights --suite suite.yaml
cat > recipe.yaml <<'YAML'
recipe: flights-clean
steps:
  - filter: "delay BETWEEN -120 AND 1440"
  - drop_duplicates:
YAML
cairn data clean flights --recipe recipe.yaml --name flights-clean
cairn data split flights-clean --name flights --ratios train=0.8,test=0.2
if [ -z "$TSC" ]; then echo "prepare.sh: no TypeScript compiler found (install Cairn's dev dependencies)" >&2; exit 1; fi
TYPES=$(dirname "$(dirname "$(dirname "$TSC")")")/@types
node "$TSC" --target es2022 --module nodenext --moduleResolution nodenext --strict --typeRoots "$TYPES" --types node --outDir build train.ts
cairn data ls
