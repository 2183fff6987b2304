#!/usr/bin/env bash
# Interop checks: installs the pinned Python packages (onnx, onnxruntime, numpy, pytest,
# scikit-learn, skl2onnx, tritonclient, cloudevents, requests, openapi-spec-validator,
# prometheus-client)
# into target/interop-venv, builds the function and converter binaries, then runs
# test_onnx_interop.py (the converter's models), test_sklearn_interop.py (scikit-learn
# models converted by skl2onnx), test_converter_csv.py (models trained on a CSV file with
# string classes; `converter inspect` on skl2onnx files) and test_clients_interop.py
# (tritonclient, the CloudEvents SDK and requests against the function) and
# test_metrics_interop.py (prometheus_client's parsers on GET /metrics). The venv is
# reused while requirements.txt is unchanged.
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

python="${PYTHON:-}"
if [ -z "$python" ]; then
  if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
fi

# The stamp records the requirements and interpreter the venv was built from; any change
# rebuilds the venv from scratch rather than layering versions.
stamp="$venv/.interop-stamp"
want="$(sha256sum "$requirements" | cut -d' ' -f1) $("$python" -c 'import sys; print(sys.version.split()[0])')"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "interop: creating $venv with $("$python" --version 2>&1)"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
    "$venv/bin/python" -m pip install --quiet --requirement "$requirements"
  echo "$want" >"$stamp"
else
  echo "interop: reusing $venv"
fi

# Always ask cargo: a no-op when the binaries are fresh, a build from a clean clone, and
# never a stale binary tested after the Rust code changed.
cargo build --quiet -p function -p converter

export FUNCTION_BIN="$target_dir/debug/function"
export CONVERTER_BIN="$target_dir/debug/converter"
export PYTHONDONTWRITEBYTECODE=1
# -p no:cacheprovider: leave no .pytest_cache in the work tree.
exec "$venv/bin/python" -m pytest "$here/test_onnx_interop.py" "$here/test_sklearn_interop.py" \
  "$here/test_clients_interop.py" "$here/test_metrics_interop.py" \
  "$here/test_converter_csv.py" \
  -p no:cacheprovider -v -s --tb=short "$@"
