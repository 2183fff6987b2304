#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time: request decoding of each protocol
# (decode_predict, decode_records, decode_kserve_v1, decode_open_inference,
# decode_grpc_infer, decode_cloudevents: bytes in, a batch the model predicts or a 4xx
# out, never a panic),
# model loading from arbitrary bytes (load_model), and the ml operators' loaders on
# fuzzed attributes (load_ml_ops). Installs cargo-fuzz if missing. New inputs go to
# fuzz/corpus/<target> (ignored by git); the committed seeds in fuzz/seeds stay small
# (load_model starts from the bundled models/ instead).
# A crash leaves its input in fuzz/artifacts/<target> and fails the script.
#
# Environment: FUZZ_SECONDS per target (default 30; 0 skips fuzzing, e.g. on a CI
# runner without a cached fuzz/target); FUZZ_TARGETS to pick targets.
# No sanitizer (tract under ASan builds for a very long time; safe Rust needs it least),
# but debug assertions and overflow checks on.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."

seconds="${FUZZ_SECONDS:-30}"
targets="${FUZZ_TARGETS:-decode_predict decode_records decode_kserve_v1 decode_open_inference decode_grpc_infer decode_cloudevents load_model load_ml_ops}"
if [ "$seconds" = 0 ]; then
  echo "fuzz: FUZZ_SECONDS=0, skipping"
  exit 0
fi

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

flags=(--sanitizer none --debug-assertions)
cargo +nightly fuzz build "${flags[@]}"

for target in $targets; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  echo "fuzz: $target for ${seconds}s"
  log="fuzz/target/$target.log"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: a leak or a huge
  # allocation is a failure; -max_len: requests are small, models a little larger.
  seeds="fuzz/seeds/$target"
  if [ "$target" = load_model ]; then seeds=models; fi
  if ! cargo +nightly fuzz run "${flags[@]}" "$target" "$corpus" "$seeds" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len="$([ "$target" = load_model ] && echo 65536 || echo 8192)" \
    -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz: $target failed; the input is in fuzz/artifacts/$target" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" | tr '\n' ' '
  echo
done
echo "fuzz: all targets ran ${seconds}s without a failure"
