#!/usr/bin/env bash
# Issue 18's comparison in one run: the models users bring (scikit-learn pipelines,
# LightGBM and XGBoost files of the interop corpus), our in-process model time
# (criterion, function/benches/pipelines.rs) against ONNX Runtime's `session.run` on one
# thread (bench/pipelines_ort.py), on the same files and rows, at batch 1 and 1000.
#
#   bench/pipelines_side_by_side.sh              # the default files below, ~3.5 minutes once built
#   bench/pipelines_side_by_side.sh NAME...      # corpus files by name (tests/interop/corpus.py)
#
# The venv is the interop tests' (target/interop-venv, made from
# tests/interop/requirements.txt, reused while the pins are unchanged), and so is the
# corpus (target/interop-corpus, rewritten when corpus.py changes). Each round runs our
# bench then ONNX Runtime's, so a neighbour's burst weighs on both sides alike; every
# round's results are kept in target/bench/pipelines/round-N, and the last output is one
# markdown table with a column per side and a value per round (also written to
# target/bench/pipelines/table.md).
#
# Environment: PIPELINE_BENCH_ROUNDS (default 2), PYTHON (interpreter for the venv),
# CARGO_TARGET_DIR (honoured as cargo does).
set -euo pipefail

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

venv="$root/target/interop-venv"
corpus="$root/target/interop-corpus"
out="$root/target/bench/pipelines"
rounds="${PIPELINE_BENCH_ROUNDS:-2}"

# The files issue 18 names (a scaler + logistic regression pipeline, with and without
# ZipMap; a ColumnTransformer of one-hot string columns and numbers before a forest,
# served as records; LightGBM; XGBoost), and a few more of the kinds users bring.
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(scaler-logistic-zipmap scaler-logistic-no-zipmap column-transformer-forest
    named-columns-regressor lightgbm-binary lightgbm-multiclass-no-zipmap xgboost-binary
    xgboost-multiclass hist-gradient-boosting-classifier scaler-svc)
fi

# shellcheck source=../tests/pinned-venv.sh
. tests/pinned-venv.sh
pinned_venv interop "$venv" tests/interop/requirements.txt
"$venv/bin/python" bench/pipelines_ort.py corpus "$corpus"

for name in "${names[@]}"; do
  [ -f "$corpus/$name.onnx" ] || { echo "no corpus file $name (see $corpus/index.json)" >&2; exit 64; }
done

# Build before the first round, so that no round's figures share the machine with rustc.
cargo bench --quiet -p function --bench pipelines --no-run

rm -rf "$out"
dirs=()
for round in $(seq 1 "$rounds"); do
  dir="$out/round-$round"
  dirs+=("$dir")
  mkdir -p "$dir"
  echo "== round $round: ours (criterion; time per call, thrpt in rows/s)"
  # One process per file, as the function serves one model per process: a model run
  # earlier in the same thread can slow the next one's code down (see BENCHMARKS.md,
  # "Models users bring"). Criterion's progress lines go to stderr; keep its other
  # messages (and any error).
  for name in "${names[@]}"; do
    CRITERION_HOME="$dir/criterion" PIPELINE_BENCH_MODELS="$corpus/$name.onnx" \
      cargo bench --quiet -p function --bench pipelines \
      2> >(grep -Ev '^(Benchmarking|Warning: Unable|You may wish|$)' >&2) |
      grep -E '^[a-z0-9-]+/|time:|thrpt:' | grep -v '%'
  done
  echo "== round $round: ONNX Runtime, same files and rows"
  "$venv/bin/python" bench/pipelines_ort.py time --out "$dir/ort.json" "$corpus" "${names[@]}"
done

echo
"$venv/bin/python" bench/pipelines_ort.py table "${dirs[@]}" | tee "$out/table.md"
