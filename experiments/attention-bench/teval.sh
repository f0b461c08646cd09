#!/bin/sh
# Table 2 in miniature on one trained run: mIoU on the first LIMIT (default
# 100) validation scenes at T_eval = 1..8, from the run's latest checkpoint
# (or its model/), one `hemnet eval` per T. Writes
# experiments/attention-bench/teval/<name>/T<t>.json (skips existing files).
#   sh experiments/attention-bench/teval.sh experiments/attention-bench/curve/hem curve-hem-step1000
set -e
run=$1
name=$2
limit=${LIMIT:-100}
dist=${DIST:-dist}
out=experiments/attention-bench/teval/$name
mkdir -p "$out"
for t in 1 2 3 4 5 6 8; do
  if [ -f "$out/T$t.json" ]; then continue; fi
  node "$dist/cli/main.js" eval --run "$run" --eval-iterations "$t" --eval-limit "$limit" --json "$out/T$t.json" -q
done
