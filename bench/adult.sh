#!/usr/bin/env bash
# The Adult figures of results/adult.md: PLE, 2 levels, 2 task + 2 shared experts of width 64,
# towers of 32, Adam 1e-3, batch 512, 5 epochs; categorical columns one-hot, then as embeddings.
# Usage: bash bench/adult.sh [path to the folder with adult.data.csv and adult.test.csv]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/adult}
for encoding in onehot embedding; do
  npm start --silent -- --data csv --preset adult --categorical-encoding "$encoding" \
    --train "$data/adult.data.csv" --test "$data/adult.test.csv" \
    --model ple --levels 2 --task-experts 2 --shared-experts 2 --expert-widths 64 --tower-widths 32 \
    --optimizer adam --lr 0.001 --batch-size 512 --epochs 5 --seed 1 --quiet --out "out/adult-$encoding"
done
