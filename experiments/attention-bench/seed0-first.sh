#!/bin/sh
# Trains the seed-$SEED (default 0) cells of sweeps/headline-short.json for ema and fcn
# before the sweep's own order (hem seeds 0, 1, 2 first) reaches them, so that
# one paired triple (hem, ema, fcn at that seed) exists early. It runs exactly
# the runner's child command (`train --config <run>/sweep-config.json --resume
# --out <run>`) and then writes the runner's mark `sweep-train.json`, so a
# later `hemnet sweep run sweeps/headline-short.json --out …` only evaluates
# them and writes sweep-done.json. Resumable. DIST: the build (default dist).
# The run's sweep-config.json must exist (the sweep writes it when it first
# reaches the run; for seed 0 it was written with the sweep's own expandSweep).
set -e
dist=${DIST:-dist}
sweep=experiments/attention-bench/sweeps/headline-short
seed=${SEED:-0}
for head in ema fcn; do
  run=$sweep/head=$head/seed-$seed
  if [ -f "$run/sweep-train.json" ]; then echo "$run trained"; continue; fi
  node "$dist/cli/main.js" train --config "$run/sweep-config.json" --resume --out "$run" >> "$run/sweep-log.txt" 2>&1
  printf '{"attempts":1,"at":"%s"}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$run/sweep-train.json"
done
