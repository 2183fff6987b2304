#!/usr/bin/env bash
# Issue 22's payload-log benchmark: requests/s of single-row /predict at 16 connections
# with payload logging off, on with a fast sink, and on with a sink that takes 200 ms per
# event (bench/ceiling's event_sink), modes alternated for BENCH_ROUNDS rounds. Prints a
# markdown table (median requests/s, and what became of the events: sent, dropped
# because the queue was full) and writes it to target/bench/payload_log.md.
#
#   bench/payload_log.sh          # ~2 minutes with the defaults, plus the release build
#
# Environment: BENCH_SECONDS=10 (each wrk run), BENCH_ROUNDS=3, CARGO_TARGET_DIR.
# Needs: cargo, wrk (apt-get install wrk), curl.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${BENCH_SECONDS:-10}"
rounds="${BENCH_ROUNDS:-3}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
out="$root/target/bench"
mkdir -p "$out/logs"
command -v wrk >/dev/null || { echo "payload_log: wrk is not installed: apt-get install wrk" >&2; exit 1; }

cargo build --release --quiet -p function -p ceiling --bin function --bin event_sink
function_bin="$target_dir/release/function"
sink_bin="$target_dir/release/event_sink"
port=18941
sink_port=18942

# wait_for URL: until it answers (5 s at most).
wait_for() {
  for _ in $(seq 100); do curl -fso /dev/null "$1" && return 0; sleep 0.05; done
  echo "payload_log: $1 did not answer" >&2; return 1
}

# metric NAME: its value in the function's /metrics (0 if absent).
metric() {
  curl -fs "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2; found = 1 } END { if (!found) print 0 }'
}

# run MODE: one wrk run against the function with payload logging MODE (off, fast, slow);
# prints "requests/s sent dropped".
run() {
  local mode="$1" sink_pid="" env=()
  case "$mode" in
    off) env=(PAYLOAD_LOG=off) ;;
    fast | slow)
      "$sink_bin" --port "$sink_port" --delay-ms "$([ "$mode" = slow ] && echo 200 || echo 0)" \
        >"$out/logs/sink-$mode.log" 2>&1 &
      sink_pid=$!
      env=(PAYLOAD_LOG=all "K_SINK=http://127.0.0.1:$sink_port/") ;;
  esac
  env -u RUST_BACKTRACE "${env[@]}" "$function_bin" --host 127.0.0.1 --port "$port" \
    >"$out/logs/function-$mode.log" 2>&1 &
  local function_pid=$!
  wait_for "http://127.0.0.1:$port/readyz"
  wrk -t1 -c16 -d2s -s bench/predict.lua "http://127.0.0.1:$port/predict" >/dev/null
  local rps
  rps="$(wrk -t1 -c16 -d"${seconds}s" -s bench/predict.lua "http://127.0.0.1:$port/predict" |
    awk '/^Requests\/sec/ { print $2 }')"
  # Events of the runs so far (warm-up included) that the sender has dealt with.
  local sent dropped
  sent="$(metric payload_events_sent_total)"
  dropped="$(metric 'payload_events_dropped_total{reason="queue_full"}')"
  kill -TERM "$function_pid"; wait "$function_pid" || true
  if [ -n "$sink_pid" ]; then kill -TERM "$sink_pid"; wait "$sink_pid" || true; fi
  echo "$rps $sent $dropped"
}

declare -A results
for round in $(seq "$rounds"); do
  for mode in off fast slow; do
    line="$(run "$mode")"
    echo "payload_log: round $round, $mode: $line (requests/s, events sent, dropped: queue full)" >&2
    results[$mode]+="$line"$'\n'
  done
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
{
  echo "| payload logging | requests/s, median of $rounds | vs off | events sent per run (median) | dropped, queue full (median) |"
  echo "|---|---|---|---|---|"
  off="$(printf '%s' "${results[off]}" | awk '{ print $1 }' | median)"
  for mode in off fast slow; do
    rps="$(printf '%s' "${results[$mode]}" | awk '{ print $1 }' | median)"
    sent="$(printf '%s' "${results[$mode]}" | awk '{ print $2 }' | median)"
    dropped="$(printf '%s' "${results[$mode]}" | awk '{ print $3 }' | median)"
    label="$(case "$mode" in off) echo off ;; fast) echo "all, fast sink" ;; slow) echo "all, 200 ms sink" ;; esac)"
    printf '| %s | %.0f | %.3f | %.0f | %.0f |\n' "$label" "$rps" "$(awk -v a="$rps" -v b="$off" 'BEGIN { print a / b }')" "$sent" "$dropped"
  done
} | tee "$out/payload_log.md"
