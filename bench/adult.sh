#!/usr/bin/env bash
# The Adult figures of results/adult.md: PLE, 2 levels, 2 task + 2 shared experts of width 64,
# towers of 32, Adam 1e-3, batch 512, 5 epochs; categorical columns one-hot, then as embeddings,
# each with every input column and without `relationship` (a near-proxy of never_married).
# Usage: bash bench/adult.sh ADULT_DATA_CSV ADULT_TEST_CSV
#   (the full UCI Adult files: 32,561 training and 16,281 test rows, with a header line)
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: bash bench/adult.sh ADULT_DATA_CSV ADULT_TEST_CSV" >&2
  exit 2
fi
train=$(realpath "$1")
test=$(realpath "$2")
cd "$(dirname "$0")/.."
for encoding in onehot embedding; do
  for drop in none relationship; do
    extra=()
    [ "$drop" = none ] || extra=(--drop-columns "$drop")
    echo "== $encoding, dropped columns: $drop"
    npm start --silent -- --data csv --preset adult --categorical-encoding "$encoding" "${extra[@]}" \
      --train "$train" --test "$test" \
      --model ple --levels 2 --task-experts 2 --shared-experts 2 --expert-widths 64 --tower-widths 32 \
      --optimizer adam --lr 0.001 --batch-size 512 --epochs 5 --seed 1 --quiet --out "out/adult-$encoding-drop-$drop"
  done
done
