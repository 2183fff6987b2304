"""Shared fixtures for the manifest tests: the repository's paths, every YAML document under
knative/, each kustomization rendered the way `kubectl apply -k` would render it, and the
facts the function's source states (its default port, health paths, drain deadline)."""

import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KNATIVE = ROOT / "knative"
KNATIVE_API = "serving.knative.dev/v1"
# ServingRuntime and ClusterServingRuntime (v1alpha1), InferenceService (v1beta1).
KSERVE_GROUP = "serving.kserve.io/"
AUTOSCALING_PREFIX = "autoscaling.knative.dev/"


def yaml_files():
    """Every YAML file under knative/, each once (knative/service.yaml is a link)."""
    seen, files = set(), []
    for path in sorted(KNATIVE.rglob("*")):
        if path.suffix in (".yaml", ".yml") and path.is_file():
            real = path.resolve()
            if real not in seen:
                seen.add(real)
                files.append(path)
    return files


def load_documents(path):
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def kustomization_dirs():
    """Directories `kubectl apply -k` can be pointed at, relative to the repository."""
    return sorted(p.parent.relative_to(ROOT) for p in KNATIVE.rglob("kustomization.yaml"))


def kustomize_command():
    """`kubectl kustomize` or a standalone `kustomize build`, whichever is installed."""
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


@lru_cache(maxsize=None)
def render(directory):
    """The documents `kubectl apply -k <directory>` would send to the cluster."""
    command = kustomize_command()
    if command is None:
        pytest.skip("neither kubectl nor kustomize is installed: cannot render kustomizations")
    result = subprocess.run(
        [*command, str(ROOT / directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(command)} {directory} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc is not None)


def knative_renders():
    """Kustomization directories whose output holds a Knative Service."""
    others = (("knative", "kubernetes"), ("knative", "monitoring"), ("knative", "kserve"))
    return [d for d in kustomization_dirs() if d.parts[:2] not in others]


def knative_services(documents):
    return [d for d in documents if d.get("apiVersion") == KNATIVE_API and d.get("kind") == "Service"]


def of_kind(documents, kind):
    return [d for d in documents if d.get("kind") == kind]


# ---- facts from the function's source, so a change there fails here ----


def _source(relative):
    return (ROOT / relative).read_text()


@lru_cache(maxsize=None)
def function_default_port():
    match = re.search(r"pub const DEFAULT_PORT: u16 = (\d+);", _source("function/src/config.rs"))
    assert match, "function/src/config.rs no longer states DEFAULT_PORT"
    return int(match.group(1))


@lru_cache(maxsize=None)
def function_drain_seconds():
    match = re.search(r"pub const DEFAULT_DRAIN_SECONDS: u64 = (\d+);", _source("function/src/config.rs"))
    assert match, "function/src/config.rs no longer states DEFAULT_DRAIN_SECONDS"
    return int(match.group(1))


@lru_cache(maxsize=None)
def function_shutdown_delay_seconds():
    """The shutdown delay on plain Kubernetes (K_SERVICE unset); under Knative it is 0."""
    match = re.search(r"pub const DEFAULT_SHUTDOWN_DELAY_SECONDS: u64 = (\d+);", _source("function/src/config.rs"))
    assert match, "function/src/config.rs no longer states DEFAULT_SHUTDOWN_DELAY_SECONDS"
    return int(match.group(1))


def container_env(container):
    """A container's literal environment: {name: value}."""
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def function_route_paths(endpoint):
    """The paths of the route table's row for `Endpoint::<endpoint>` (function/src/routes.rs)."""
    routes = _source("function/src/routes.rs")
    row = re.search(r"endpoint: Endpoint::" + endpoint + r",\s*methods: Methods::\w+,\s*paths: &\[(.*?)\],", routes, re.S)
    assert row, f"function/src/routes.rs: no row for Endpoint::{endpoint}"
    return set(re.findall(r'path\(\s*"([^"]+)"', row.group(1)))


@lru_cache(maxsize=None)
def function_health_paths():
    """{"live": {...}, "ready": {...}}: the GET paths the router sends to each handler."""
    router = _source("function/src/http/router.rs")
    paths = {}
    for kind, handler in (("live", r"health::live\("), ("ready", r"health::ready\(")):
        # The dispatch arm names the endpoint; the route table gives its paths.
        arm = re.search(r"Endpoint::(\w+) => Ok\(" + handler, router)
        assert arm, f"function/src/http/router.rs: no route to {handler}"
        paths[kind] = function_route_paths(arm.group(1))
    return paths


@lru_cache(maxsize=None)
def dockerfile_stages():
    """The Dockerfile as (build stages, runtime stage): lists of (INSTRUCTION, arguments)
    pairs, comments dropped and continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text()
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        current += " " + stripped.rstrip("\\").strip() if current else stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            logical.append(current)
            current = ""
    instructions = []
    for line in logical:
        name, _, rest = line.partition(" ")
        instructions.append((name.upper(), rest.strip()))
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[:last_from], instructions[last_from:]
