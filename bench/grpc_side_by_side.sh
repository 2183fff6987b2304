#!/usr/bin/env bash
# Issue 23's comparison in one run: single-row inference calls at 16 concurrent calls
# over gRPC (ModelInfer, raw FP32, h2c), V2 REST (HTTP/1.1 and h2c) and /predict
# (HTTP/1.1), against a release function serving the bundled Iris forest, with
# bench/load (every answer checked). Each call on its own connection, and over h2c also
# all 16 multiplexed on one connection (`--connections 1`, what gRPC clients do with
# one channel). Each line also says the server's and the client's CPU time per call,
# which on a shared machine tells the transport's cost apart from the client's. Modes
# (and binaries, with BENCH_BASELINE) alternate for BENCH_ROUNDS rounds, so a
# neighbour's burst on the shared machine does not land on one of them only.
#
#   bench/grpc_side_by_side.sh          # ~2.5 minutes once built
#   BENCH_BASELINE=/tmp/function-old bench/grpc_side_by_side.sh   # and an older build
#
# Environment: BENCH_SECONDS (per run, default 10), BENCH_ROUNDS (default 2),
# BENCH_CONCURRENCY (default 16), BENCH_PORT (default 18480), BENCH_BASELINE (another
# function binary measured the same way, each round, before this tree's).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${BENCH_SECONDS:-10}"
rounds="${BENCH_ROUNDS:-2}"
concurrency="${BENCH_CONCURRENCY:-16}"
port="${BENCH_PORT:-18480}"
cargo build --quiet --release -p function -p load
binaries=()
if [ -n "${BENCH_BASELINE:-}" ]; then binaries+=("$BENCH_BASELINE"); fi
binaries+=(target/release/function)
server=
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; fi; rm -f target/grpc-bench-function.log' EXIT
for round in $(seq "$rounds"); do
  for binary in "${binaries[@]}"; do
    "$binary" --port "$port" --host 127.0.0.1 >target/grpc-bench-function.log 2>&1 &
    server=$!
    for _ in $(seq 100); do
      curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
      sleep 0.05
    done
    for mode in "grpc" "grpc --connections 1" "v2" "v2 --h2" "v2 --h2 --connections 1" "predict"; do
      # shellcheck disable=SC2086 # "v2 --h2" is a mode and a flag
      target/release/load --url "http://127.0.0.1:$port" --concurrency "$concurrency" \
        --seconds "$seconds" --warmup 2 --server-pid "$server" --mode $mode |
        sed "s|^|round=$round binary=$binary |"
    done
    kill "$server"
    wait "$server" 2>/dev/null || true
    server=
  done
done
