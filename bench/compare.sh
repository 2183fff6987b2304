#!/usr/bin/env bash
# Issue 9's benchmark: the function, the tutorial stack (scikit-learn + FastAPI + uvicorn,
# bench/tutorial) and the ceiling (a trivial hyper server, bench/ceiling) measured side by
# side, one server at a time, in one run on this machine. Prints one markdown table with
# the ratios and the issue's targets, and writes it to target/bench/compare.md.
#
#   bench/compare.sh [--no-tutorial]      # ~2.5 minutes with the defaults, plus builds
#
# Measured for each server: requests/s and latency p50/p99 with wrk at 1, 16 and 256
# connections (single-row /predict, after a warm-up); rows/s for 1000-row batches at 16
# connections (function and ceiling); cold start, exec -> first 200 (bench/cold_start.py);
# VmRSS after the warm-up and after the load (after 1 s idle), and its peak with 256
# connections open; the image size that tests/container/run.sh
# last wrote to target/container-size.txt. See BENCHMARKS.md for what each column means.
#
# Needs: cargo, wrk (apt-get install wrk), python3 (standard library only). For the
# tutorial column, a Python with venv and pip: the pinned stack of
# bench/tutorial/requirements.txt is installed into target/bench-venv on the first run
# (tests/pinned-venv.sh); without one the column is skipped with a message.
#
# Environment:
#   BENCH_SECONDS=10             length of each wrk run
#   BENCH_WARMUP_SECONDS=2       wrk warm-up (16 connections) before each server's runs
#   BENCH_COLD_RUNS=20           cold starts of the function and the ceiling (median)
#   BENCH_TUTORIAL_COLD_RUNS=5   cold starts of the tutorial stack (~1.5 s each)
#   BENCH_BATCH_ROWS=1000        rows per batch request
#   BENCH_TUTORIAL=off           same as --no-tutorial
#   PYTHON                       interpreter for the venv (default python3.11, else python3)
#   CARGO_TARGET_DIR             honoured as cargo does
# The servers run with their default settings (logs included: the function logs only
# start-up at its default level, uvicorn one access line per request, as deployed), their
# output to target/bench/logs/, RUST_BACKTRACE unset.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
say() { echo "compare: $*" >&2; }
die() { echo "compare: error: $*" >&2; exit 1; }

tutorial="${BENCH_TUTORIAL:-on}"
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    --no-tutorial) tutorial=off ;;
    *) echo "compare: unknown argument '$arg'" >&2; usage >&2; exit 64 ;;
  esac
done
for knob in BENCH_SECONDS BENCH_WARMUP_SECONDS BENCH_COLD_RUNS BENCH_TUTORIAL_COLD_RUNS \
  BENCH_BATCH_ROWS; do
  value="${!knob:-1}"
  if [[ ! "$value" =~ ^[1-9][0-9]*$ ]]; then
    echo "compare: $knob=$value is not a positive integer" >&2
    exit 64
  fi
done

command -v wrk >/dev/null || die "wrk is not installed: apt-get install wrk"
command -v python3 >/dev/null || die "python3 is needed for the driver (bench/compare.py)"

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
out="$root/target/bench"
mkdir -p "$out"

# The function as the image ships it: profile dist (LTO), static, non-PIE, built as the
# Dockerfile and tests/container/run.sh build it (same flags, so they share the cache);
# the ceiling the same way, so neither pays a dynamic loader or relocations the other
# does not.
say "building the binaries as they ship (profile dist: LTO, static; ~10 min cold)"
target=x86_64-unknown-linux-gnu
RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' \
  cargo build --profile dist --quiet --target "$target" -p function -p ceiling

# ---- the tutorial stack: a pinned venv and the tutorial's model.joblib ----
tutorial_args=()
if [[ "$tutorial" != off ]]; then
  venv="$root/target/bench-venv"
  workdir="$out/tutorial"
  # shellcheck source=../tests/pinned-venv.sh
  . "$root/tests/pinned-venv.sh" # sets $python
  if ! command -v "$python" >/dev/null || ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    say "skipping the tutorial stack: no Python with venv and pip ($python)"
  # In its own bash so that a failed pip install stops pinned_venv (errexit does not
  # hold inside an `if` condition) and leaves no stamp behind.
  elif ! bash -euo pipefail -c '. "$1"; pinned_venv tutorial "$2" "$3"' _ \
    "$root/tests/pinned-venv.sh" "$venv" "$root/bench/tutorial/requirements.txt" >&2; then
    say "skipping the tutorial stack: could not install bench/tutorial/requirements.txt into $venv"
  else
    mkdir -p "$workdir"
    # Trained once per venv, as the tutorial trains once before building its image.
    if [[ ! "$workdir/model.joblib" -nt "$venv/.pins" || \
      ! "$workdir/model.joblib" -nt "$root/bench/tutorial/train.py" ]]; then
      say "tutorial: training model.joblib (bench/tutorial/train.py)"
      (cd "$workdir" &&
        PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" "$root/bench/tutorial/train.py")
    fi
    tutorial_args=(--tutorial-venv "$venv" --tutorial-dir "$workdir")
  fi
fi

# Keeps bench/ and bench/tutorial/ free of __pycache__ (the driver imports cold_start,
# uvicorn imports app); the venv's packages keep the bytecode pip compiled.
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$root/bench/compare.py" \
  --function "$target_dir/$target/dist/function" --ceiling "$target_dir/$target/dist/ceiling" \
  "${tutorial_args[@]}" \
  --seconds "${BENCH_SECONDS:-10}" --warmup "${BENCH_WARMUP_SECONDS:-2}" \
  --cold-runs "${BENCH_COLD_RUNS:-20}" --tutorial-cold-runs "${BENCH_TUTORIAL_COLD_RUNS:-5}" \
  --batch-rows "${BENCH_BATCH_ROWS:-1000}" \
  --image-size "$root/target/container-size.txt" --out "$out/compare.md"
