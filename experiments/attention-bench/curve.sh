#!/bin/sh
# The validation curve of the attention-bench preset (issue 11, item 1): one
# hem run at the preset's full budget (3000 steps of 8), with mIoU on 100
# fixed validation scenes at every monitor event (every 100 steps), the
# effective number of bases and ‖∂L/∂backbone‖ beside it. Resumable:
# re-running continues from the last checkpoint (every 250 steps).
# Run from the repository root after `npm run build`:
#   nice -n 5 sh experiments/attention-bench/curve.sh            # HEAD=hem by default
#   HEAD=ema nice -n 5 sh experiments/attention-bench/curve.sh
# DIST (default dist) names the build to run, e.g. a frozen copy so that a
# rebuild during the run changes nothing:
#   cp -r dist .run-dist/dist && DIST=.run-dist/dist sh experiments/attention-bench/curve.sh
# The curve: npx tsx scripts/attention-bench-figures.ts curves
set -e
head=${HEAD:-hem}
dist=${DIST:-dist}
dir=experiments/attention-bench/curve/$head
if [ -f "$dir/metrics.json" ]; then echo "$dir done"; exit 0; fi
resume=""
if [ -d "$dir/checkpoints" ]; then resume="--resume"; fi
node "$dist/cli/main.js" train --preset attention-bench --head "$head" --backend native --out "$dir" $resume
