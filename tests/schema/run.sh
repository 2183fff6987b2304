#!/usr/bin/env bash
# Schema-driven fuzzing: installs the pinned schemathesis into target/schema-venv (reused
# while requirements.txt is unchanged), builds and starts the function on a free port,
# and lets schemathesis generate requests from GET /openapi.json: valid and invalid
# bodies, headers and paths for every operation. Checks: no 5xx, every status and
# content type is one the document lists, every body and header matches its schema.
#
# Environment: PYTHON (default python3.11, else python3), CARGO_TARGET_DIR,
# SCHEMATHESIS_EXAMPLES (per operation and phase, default 50), SCHEMATHESIS_SEED
# (default 1: CI runs are reproducible; set another to explore). Extra arguments go to
# `schemathesis run`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
venv="$root/target/schema-venv"
requirements="$here/requirements.txt"

# shellcheck source=../pinned-venv.sh
. "$here/../pinned-venv.sh"
pinned_venv schema "$venv" "$requirements"

cargo build --quiet -p function

port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="$target_dir/schema-function.log"
"$target_dir/debug/function" --host 127.0.0.1 --port "$port" </dev/null >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT

for _ in $(seq 100); do
  if "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/readyz', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$server" 2>/dev/null; then
    cat "$log" >&2
    echo "schema: the function exited before it was ready" >&2
    exit 1
  fi
  sleep 0.1
done

# Reports and Hypothesis' database stay in target/, not in the work tree. Phases: the
# documented examples are left out (tests/protocols/ and the interop suite send them,
# and Hypothesis' example phase trips a CPython 3.11 AST error now and then); stateful
# testing too (there are no resources to chain, and it doubles the run time).
mkdir -p "$target_dir/schemathesis"
cd "$target_dir/schemathesis"
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --phases coverage,fuzzing \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-50}" \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  --workers 2 \
  --request-timeout 10 \
  "$@"

# The server must have survived everything it was sent.
if ! kill -0 "$server" 2>/dev/null; then
  cat "$log" >&2
  echo "schema: the function died during the run" >&2
  exit 1
fi
echo "schema: the function answered every generated request within its documented contract"
