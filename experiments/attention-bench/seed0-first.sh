#!/bin/sh
# Trains the seed-0 cells of sweeps/headline-short.json for ema and fcn
# before the sweep's own order (hem seeds 0, 1, 2 first) reaches them, so that
# one paired triple (hem, ema, fcn at seed 0) exists early. It runs exactly
# the runner's child command (`train --config <run>/sweep-config.json --resume
# --out <run>`) and then writes the runner's mark `sweep-train.json`, so a
# later `hemnet sweep run sweeps/headline-short.json --out …` only evaluates
# them and writes sweep-done.json. Resumable. DIST: the build (default dist).
set -e
dist=${DIST:-dist}
sweep=experiments/attention-bench/sweeps/headline-short
for head in ema fcn; do
  run=$sweep/head=$head/seed-0
  if [ -f "$run/sweep-train.json" ]; then echo "$run trained"; continue; fi
  node "$dist/cli/main.js" train --config "$run/sweep-config.json" --resume --out "$run" >> "$run/sweep-log.txt" 2>&1
  printf '{"attempts":1,"at":"%s"}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$run/sweep-train.json"
done
