#!/usr/bin/env bash
# Issue 4's comparison in one run: our tree-ensemble op and tract 0.23's (criterion,
# through the whole tract plan) and ONNX Runtime single-threaded (Python), on the bundled
# Iris forest, the tutorial's scikit-learn Iris forest and a 500-tree, depth-12 forest on
# 30 features, at batch 1 and 1000.
#
#   tests/interop/run.sh          # once: creates target/interop-venv (onnxruntime, skl2onnx)
#   bench/tree_side_by_side.sh    # ~3 minutes on 2 cores, plus ~1 minute to make the forest
#
# The scikit-learn forests are written to target/bench on the first run
# (iris-sklearn.onnx, 0.2 MB; rf500.onnx, 65 MB).
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
# tract's op builds an error value per leaf, with a backtrace under RUST_BACKTRACE.
unset RUST_BACKTRACE
echo "== tract plans: ours vs tract 0.23 (criterion; time per call, thrpt in rows/s)"
# Criterion's progress lines go to stderr; keep its other messages (and any error).
TREE_BENCH_MODELS="$sklearn_iris,$large" cargo bench --quiet -p model --bench tree_ensemble \
  2> >(grep -Ev '^(Benchmarking|Warning: Unable|You may wish|$)' >&2) |
  grep -E '^[a-z0-9-]+/|time:|thrpt:' | grep -v '%'
echo "== ONNX Runtime, same files"
"$python" bench/tree_models.py time --criterion "${CARGO_TARGET_DIR:-target}/criterion" \
  models/iris-forest.onnx "$sklearn_iris" "$large"
