# Sourced by the test scripts that run Python tools (interop, schema, manifests):
# pinned_venv LABEL VENV FILE... creates VENV from the pip files (the first is the
# requirements, a second one the constraints) with the interpreter in $python, or reuses
# it while those files and the interpreter version are unchanged. Any change rebuilds it
# from scratch rather than layering versions.
#
# Sets `python` from PYTHON, else python3.11, else python3, for the caller's own use too.

python="${PYTHON:-}"
if [ -z "$python" ]; then
  if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
fi

pinned_venv() {
  local label="$1" venv="$2" requirements="$3" constraints="${4:-}"
  local stamp="$venv/.pins"
  local want
  want="$(cat "$requirements" ${constraints:+"$constraints"} | sha256sum | cut -d' ' -f1) $("$python" -c 'import sys; print(sys.version.split()[0])')"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
    echo "$label: reusing $venv"
    return
  fi
  echo "$label: creating $venv with $("$python" --version 2>&1)"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 timeout 900 \
    "$venv/bin/python" -m pip install --quiet --requirement "$requirements" \
    ${constraints:+--constraint "$constraints"}
  echo "$want" >"$stamp"
}
