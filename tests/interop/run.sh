#!/usr/bin/env bash
# Interop checks: installs the pinned Python packages (onnx, onnxruntime, numpy, pytest,
# scikit-learn, skl2onnx, tritonclient (HTTP and gRPC), cloudevents, requests,
# openapi-spec-validator, prometheus-client, lightgbm, xgboost-cpu, onnxmltools, shap)
# into target/interop-venv, builds the function and converter binaries, then runs
# test_onnx_interop.py (the converter's models), test_sklearn_interop.py (scikit-learn
# models converted by skl2onnx), test_converter_csv.py (models trained on a CSV file with
# string classes; `converter inspect` on skl2onnx files) and test_clients_interop.py
# (tritonclient, the CloudEvents SDK and requests against the function) and
# test_metrics_interop.py (prometheus_client's parsers on GET /metrics) and
# test_grpc_interop.py (tritonclient.grpc and grpcio: the Open Inference Protocol over
# gRPC on the same port, against V2 REST) and
# test_models_users_bring.py (the corpus of scikit-learn pipelines, LightGBM and XGBoost
# files that corpus.py generates into target/interop-corpus, each served through every
# protocol against onnxruntime) and test_explanations_interop.py (SHAP values of
# annotated scikit-learn and LightGBM models against shap's) and
# test_payload_log_interop.py (--payload-log's events, parsed by the CloudEvents SDK in
# a real receiver; slow and refusing sinks). The venv is reused while
# requirements.txt is unchanged; the corpus while corpus.py and requirements.txt are.
#
# Environment: PYTHON (interpreter for the venv, default python3.11, else python3),
# CARGO_TARGET_DIR (honoured as cargo does); extra arguments go to pytest.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
venv="$root/target/interop-venv"
requirements="$here/requirements.txt"

# shellcheck source=../pinned-venv.sh
. "$here/../pinned-venv.sh"
pinned_venv interop "$venv" "$requirements"

# Always ask cargo: a no-op when the binaries are fresh, a build from a clean clone, and
# never a stale binary tested after the Rust code changed.
cargo build --quiet -p function -p converter

export FUNCTION_BIN="$target_dir/debug/function"
export CONVERTER_BIN="$target_dir/debug/converter"
export PYTHONDONTWRITEBYTECODE=1
# -p no:cacheprovider: leave no .pytest_cache in the work tree.
exec "$venv/bin/python" -m pytest "$here/test_onnx_interop.py" "$here/test_sklearn_interop.py" \
  "$here/test_clients_interop.py" "$here/test_metrics_interop.py" "$here/test_grpc_interop.py" \
  "$here/test_converter_csv.py" "$here/test_converter_mixed.py" "$here/test_converter_quality.py" "$here/test_models_users_bring.py" \
  "$here/test_explanations_interop.py" "$here/test_payload_log_interop.py" \
  -p no:cacheprovider -v -s --tb=short "$@"
