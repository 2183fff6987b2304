#!/usr/bin/env bash
# Issues 4 and 19's comparison in one run: our tree-ensemble op (as the function serves
# it, and through a tract plan) and tract 0.23's (criterion), ONNX Runtime
# single-threaded (Python) and, for the boosted models, XGBoost's and LightGBM's own
# predictors (1 thread), on the bundled Iris forest, the tutorial's scikit-learn Iris
# forest, a 500-tree, depth-12 forest on 30 features, and 500-tree XGBoost and LightGBM
# models on 30 features, at batch 1 (one row repeated, and a different row each call:
# `batch-1-varied`) and 1000.
#
#   tests/interop/run.sh          # once: creates target/interop-venv (onnxruntime,
#                                 # skl2onnx, xgboost, lightgbm, onnxmltools)
#   bench/tree_side_by_side.sh    # ~5 minutes on 2 cores, plus ~2 minutes to make the models
#
# The models are written to target/bench on the first run (iris-sklearn.onnx, 0.2 MB;
# rf500.onnx, 65 MB; xgb500.onnx and lgbm500.onnx with their native files, by
# bench/boosted_models.py). TREE_BENCH_FILTER (a criterion filter, e.g. `xgb500|lgbm500`)
# times a subset; TREE_BENCH_ROWS=mean,sd draws every runtime's rows from N(mean, sd)
# instead of N(3, 2) (the boosted models were trained on values around N(0, 1)).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python=target/interop-venv/bin/python
if [ ! -x "$python" ]; then
  echo "no $python: run tests/interop/run.sh first (it creates the venv)" >&2
  exit 1
fi
large=target/bench/rf500.onnx
sklearn_iris=target/bench/iris-sklearn.onnx
mkdir -p target/bench
[ -f "$large" ] || "$python" bench/tree_models.py make "$large"
[ -f "$sklearn_iris" ] || "$python" bench/tree_models.py make-iris "$sklearn_iris"
xgb=target/bench/xgb500.onnx
lgbm=target/bench/lgbm500.onnx
[ -f "$xgb" ] && [ -f "$lgbm" ] || "$python" bench/boosted_models.py make target/bench
# tract's op builds an error value per leaf, with a backtrace under RUST_BACKTRACE.
unset RUST_BACKTRACE
echo "== ours (Model::predict, tract plan) vs tract 0.23 (criterion; time per call, thrpt in rows/s)"
# Criterion's progress lines go to stderr; keep its other messages (and any error).
TREE_BENCH_MODELS="$sklearn_iris,$large,$xgb,$lgbm" cargo bench --quiet -p model \
  --bench tree_ensemble -- "${TREE_BENCH_FILTER:-}" \
  2> >(grep -Ev '^(Benchmarking|Warning: Unable|You may wish|$)' >&2) |
  grep -E '^[a-z0-9-]+/|time:|thrpt:' | grep -v '%'
echo "== XGBoost and LightGBM, 1 thread, same rows"
"$python" bench/boosted_models.py native target/bench target/bench/native.json
echo "== ONNX Runtime, same files"
"$python" bench/tree_models.py time --criterion "${CARGO_TARGET_DIR:-target}/criterion" \
  --native target/bench/native.json \
  models/iris-forest.onnx "$sklearn_iris" "$large" "$xgb" "$lgbm"
