#!/bin/sh
# Pilot of the attention-bench preset (issue 11): hem then fcn, one at a time,
# 200 steps of 4 images, each resumable (re-running continues a stopped run).
# Run from the repository root after `npm run build`:
#   nice -n 10 sh experiments/attention-bench/pilot.sh
# The committed pilot (2026-12-02) ran on a build made before BilinearUpsample
# got its exact gradient (both heads on the same build, a frozen copy of dist/),
# at machine load 20-28 on 2 cores.
set -e
out=experiments/attention-bench/pilot
for head in hem fcn; do
  dir=$out/$head
  if [ -f "$dir/metrics.json" ]; then echo "$dir done"; continue; fi
  resume=""
  if [ -d "$dir/checkpoints" ]; then resume="--resume"; fi
  node dist/cli/main.js train --preset attention-bench --head "$head" \
    --steps 200 --batch-size 4 --train-size 2000 --val-size 100 --checkpoint-every 50 --monitor-every 25 \
    --out "$dir" $resume
done
