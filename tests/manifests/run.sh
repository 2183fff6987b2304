#!/usr/bin/env bash
# Manifest tests: renders every kustomization under knative/ as `kubectl apply -k` would,
# checks the Knative rules and the plain-Kubernetes path (pytest), and runs independent
# validators (Kubernetes and Knative schemas, checkov, hadolint) from a pinned venv in
# target/manifests-venv. Usage: tests/manifests/run.sh [pytest args]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/tests/manifests"
venv="$root/target/manifests-venv"
started=$SECONDS

# shellcheck source=../pinned-venv.sh
. "$here/../pinned-venv.sh"
pinned_venv manifests "$venv" "$here/requirements.txt" "$here/constraints.txt"

if command -v kubectl >/dev/null; then
  echo "manifests: rendering with $(kubectl version --client 2>/dev/null | grep -i kustomize || echo 'kubectl kustomize')"
elif command -v kustomize >/dev/null; then
  echo "manifests: rendering with kustomize $(kustomize version 2>/dev/null)"
else
  echo "manifests: neither kubectl nor kustomize found: rendering tests will be skipped" >&2
fi

cd "$here"
# No plugin autoload: cloudcoil ships a pytest plugin for live clusters that we do not use.
PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 timeout 900 "$venv/bin/python" -m pytest \
  -p no:cacheprovider -q -rs "$@"
echo "manifests: done in $((SECONDS - started)) s"
