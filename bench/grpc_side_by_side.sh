#!/usr/bin/env bash
# Issue 23's comparison in one run: single-row inference calls at 16 concurrent calls
# over gRPC (ModelInfer, raw FP32, h2c), V2 REST (HTTP/1.1 and h2c) and /predict
# (HTTP/1.1), against one release function serving the bundled Iris forest, with
# bench/load (every answer checked). Modes alternate for BENCH_ROUNDS rounds, so a
# neighbour's burst on the shared machine does not land on one protocol only.
#
#   bench/grpc_side_by_side.sh          # ~1.5 minutes once built
#
# Environment: BENCH_SECONDS (per run, default 10), BENCH_ROUNDS (default 2),
# BENCH_CONCURRENCY (default 16), BENCH_PORT (default 18480).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${BENCH_SECONDS:-10}"
rounds="${BENCH_ROUNDS:-2}"
concurrency="${BENCH_CONCURRENCY:-16}"
port="${BENCH_PORT:-18480}"
cargo build --quiet --release -p function -p load
target/release/function --port "$port" --host 127.0.0.1 >target/grpc-bench-function.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -f target/grpc-bench-function.log' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.05
done
for round in $(seq "$rounds"); do
  for mode in "grpc" "v2" "v2 --h2" "predict"; do
    # shellcheck disable=SC2086 # "v2 --h2" is a mode and a flag
    target/release/load --url "http://127.0.0.1:$port" --concurrency "$concurrency" \
      --seconds "$seconds" --warmup 2 --mode $mode | sed "s/^/round=$round /"
  done
done
