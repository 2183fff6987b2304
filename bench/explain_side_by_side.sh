#!/usr/bin/env bash
# Issue 21's speed comparison in one run: the function's explanations (criterion,
# function/model/benches/explain.rs: the bundled Iris forest, and the 500-tree XGBoost
# and LightGBM models annotated with their training rows) and shap's TreeExplainer on
# the same native models (bench/explain_shap.py), 1 thread, rows from N(0, 1).
#
#   tests/interop/run.sh                # once: creates target/interop-venv (shap included)
#   bench/explain_side_by_side.sh       # ~4 minutes on 2 cores once built
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python=target/interop-venv/bin/python
if [ ! -x "$python" ]; then
  echo "no $python: run tests/interop/run.sh first (it creates the venv)" >&2
  exit 1
fi
out=target/bench
mkdir -p "$out"
[ -f "$out/xgb500.onnx" ] && [ -f "$out/lgbm500.onnx" ] || "$python" bench/boosted_models.py make "$out"
cargo build --quiet --release -p converter
for model in xgb500 lgbm500; do
  if [ ! -f "$out/$model-annotated.onnx" ]; then
    [ -f "$out/$model-train.csv" ] || "$python" bench/explain_shap.py csv "$out"
    target/release/converter annotate "$out/$model.onnx" --data "$out/$model-train.csv" \
      --target target -o "$out/$model-annotated.onnx"
  fi
done
export TREE_BENCH_ROWS="${TREE_BENCH_ROWS:-0,1}"
echo "== the function (Model::explain, criterion; time per call, thrpt in rows/s)"
EXPLAIN_BENCH_MODELS="$out/xgb500-annotated.onnx,$out/lgbm500-annotated.onnx" \
  cargo bench --quiet -p model --bench explain -- --warm-up-time 0.5 --measurement-time 3 \
  2> >(grep -Ev '^(Benchmarking|Warning: Unable|You may wish|$)' >&2) |
  grep -E '^explain/|time:|thrpt:' | grep -v '%'
echo "== shap"
"$python" bench/explain_shap.py time "$out"
