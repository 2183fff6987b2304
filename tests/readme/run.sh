#!/usr/bin/env bash
# The README, pasted: builds the release binaries as the README does (`cargo build
# --release -p function`, what its step 1's `cargo run` builds, and `-p converter`, so its
# own build is a no-op), then tests/readme/check.py
# runs its ```sh and ```python examples in order
# against a fresh server on a free port and checks each printed answer against the
# `# ...` lines under it. The Python examples run in the interop venv (skl2onnx,
# tritonclient), which tests/interop/run.sh made before this in CI and is reused here.
#
# Cost: one release build of the workspace (CI makes no other: the container test's
# static `dist` build is another profile and target), then a few seconds.
# Environment: PYTHON (default python3), CARGO_TARGET_DIR (honoured as cargo does).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
started=$SECONDS

# shellcheck source=../pinned-venv.sh
. tests/pinned-venv.sh
pinned_venv interop "$root/target/interop-venv" tests/interop/requirements.txt

cargo build --release --quiet -p function
cargo build --release --quiet -p converter
README_PYTHON="$root/target/interop-venv/bin/python" PYTHONDONTWRITEBYTECODE=1 \
  "$python" tests/readme/check.py
echo "readme: done in $((SECONDS - started)) s"
