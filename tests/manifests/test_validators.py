"""Independent validators over what `kubectl apply -k` renders and over the Dockerfile:
- kubernetes-validate (Kubernetes' own OpenAPI schemas, strict: unknown fields fail) for
  every core object, and for each Knative revision template as the Pod Knative makes of it;
- Knative Serving's CRD schema (cloudcoil's models generated from it), closed so that a
  field the CRD does not list (lifecycle, stdin, hostPort, ...) fails; the same for the
  Prometheus Operator's PodMonitor;
- checkov, a security linter, on the same objects and on the Dockerfile;
- hadolint on the Dockerfile.
All of them run offline from the venv run.sh builds."""

import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.knative_serving.serving import v1 as knative_v1
from cloudcoil.models.prometheus_operator import v1 as prometheus_operator_v1

from conftest import KNATIVE_API, KSERVE_GROUP, ROOT, kustomization_dirs, knative_services, render

BIN = Path(sys.executable).parent
MONITORING_API = "monitoring.coreos.com/v1"
EVENTING_SOURCES_GROUP = "sources.knative.dev/"
# Knative's own fields on the revision spec, which a core PodSpec does not have.
KNATIVE_ONLY_POD_FIELDS = {"containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds", "idleTimeoutSeconds"}
# checkov findings we accept, each for a stated reason.
CHECKOV_ACCEPTED = {
    "CKV_K8S_21": "no namespace in the manifests: it is chosen at apply time (kubectl -n)",
    "CKV_K8S_43": "the image is a placeholder set by `images:` in the kustomization; Knative "
    "resolves the tag to a digest itself when it creates a revision",
}
CHECKOV_ACCEPTED_FOR_KNATIVE = {
    "CKV_K8S_15": "Knative pulls the digest it resolved, so IfNotPresent cannot serve a stale "
    "image and Always would only add a registry round trip to every cold start",
    "CKV_K8S_29": "Knative rejects a pod-level securityContext unless the cluster enables "
    "kubernetes.podspec-securitycontext; the container's securityContext carries it all",
    "CKV2_K8S_6": "a NetworkPolicy for Knative pods must admit the activator and the ingress "
    "on queue-proxy's ports: it belongs to the cluster's Knative installation",
}
CHECKOV_ACCEPTED_FOR_DOCKERFILE = {
    "CKV_DOCKER_2": "no HEALTHCHECK: Kubernetes ignores it and probes /readyz and /healthz "
    "instead, and a scratch image has no program to run one with",
}


def all_renders():
    return [(str(d), render(str(d))) for d in kustomization_dirs()]


def pod_from_revision(service):
    """The Pod Knative creates from a revision template, minus the queue-proxy sidecar."""
    spec = {k: v for k, v in service["spec"]["template"]["spec"].items() if k not in KNATIVE_ONLY_POD_FIELDS}
    labels = service["spec"]["template"].get("metadata", {}).get("labels", {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": service["metadata"]["name"], "labels": labels},
        "spec": spec,
    }


def closed_schema(model):
    """The JSON schema of a cloudcoil model with every object closed to fields it does not
    list, so that a misspelt or disallowed field fails."""
    schema = model.model_json_schema(by_alias=True)

    def close(node):
        if isinstance(node, dict):
            any_of = node.get("anyOf")
            # pydantic writes optional fields as anyOf [X, null]: unwrap for clear errors.
            if isinstance(any_of, list) and len(any_of) == 2 and {"type": "null"} in any_of:
                (inner,) = [a for a in any_of if a != {"type": "null"}]
                del node["anyOf"]
                node.update(inner)
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


@lru_cache(maxsize=None)
def knative_service_schema():
    """The Knative Service schema, closed."""
    return closed_schema(knative_v1.Service)


@lru_cache(maxsize=None)
def pod_monitor_schema():
    """The Prometheus Operator's PodMonitor schema, closed."""
    return closed_schema(prometheus_operator_v1.PodMonitor)


@pytest.mark.parametrize("version", ["1.32.0", kubernetes_validate.latest_version()])
def test_core_objects_and_revision_pods_pass_kubernetes_schemas_strictly(version):
    checked = 0
    for name, documents in all_renders():
        for doc in documents:
            if doc.get("apiVersion") == MONITORING_API:
                continue  # a CRD: test_pod_monitor_passes_its_crd_schema
            if doc.get("apiVersion", "").startswith(KSERVE_GROUP):
                continue  # KServe's CRDs: test_kserve.py loads them through KServe's models
            if doc.get("apiVersion", "").startswith(EVENTING_SOURCES_GROUP):
                continue  # Knative Eventing's SinkBinding: test_knative_rules.py checks it
            if doc.get("apiVersion") == KNATIVE_API:
                doc = pod_from_revision(doc)
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']} against Kubernetes {version}: {error.message} at {list(error.path)}")
            checked += 1
    assert checked >= 8


def test_knative_services_pass_the_knative_crd_schema():
    validator = jsonschema.Draft202012Validator(knative_service_schema())
    for name, documents in all_renders():
        for service in knative_services(documents):
            errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(service)]
            assert not errors, f"{name}:\n" + "\n".join(errors)


def test_pod_monitor_passes_its_crd_schema():
    validator = jsonschema.Draft202012Validator(pod_monitor_schema())
    monitors = [d for d in render("knative/monitoring") if d.get("kind") == "PodMonitor"]
    assert len(monitors) == 1
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(monitors[0])]
    assert not errors, "\n".join(errors)
    misspelt = json.loads(json.dumps(monitors[0]))
    misspelt["spec"]["podMetricsEndpoints"][0]["targetport"] = 8080
    assert list(validator.iter_errors(misspelt)), "the closed schema would not notice a misspelt field"


def test_the_closed_knative_schema_rejects_disallowed_fields():
    service = json.loads(json.dumps(knative_services(render("knative"))[0]))
    container = service["spec"]["template"]["spec"]["containers"][0]
    container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", "5"]}}}
    container["ports"][0]["hostPort"] = 80
    errors = list(jsonschema.Draft202012Validator(knative_service_schema()).iter_errors(service))
    assert errors, "the Knative schema check would not notice lifecycle or hostPort"


def run_checkov(directory_or_file, framework, skips):
    target = ["-d", str(directory_or_file)] if Path(directory_or_file).is_dir() else ["-f", str(directory_or_file)]
    result = subprocess.run(
        [str(BIN / "checkov"), *target, "--framework", framework, "--skip-download", "--compact",
         "--quiet", "--skip-check", ",".join(sorted(skips))],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )
    assert result.returncode == 0, f"checkov ({framework}) found problems:\n{result.stdout}\n{result.stderr[-2000:]}"


def test_checkov_passes_the_kubernetes_objects(tmp_path):
    for name, documents in all_renders():
        core = [d for d in documents if d.get("apiVersion") != KNATIVE_API and not d.get("apiVersion", "").startswith(KSERVE_GROUP)]
        if core:
            (tmp_path / (name.replace("/", "_") + ".yaml")).write_text(yaml.safe_dump_all(core))
    run_checkov(tmp_path, "kubernetes", CHECKOV_ACCEPTED)


def test_checkov_passes_the_pods_knative_makes(tmp_path):
    # checkov has no rules for Knative's Service kind, so lint the Pod each revision becomes.
    for name, documents in all_renders():
        for service in knative_services(documents):
            (tmp_path / (name.replace("/", "_") + ".yaml")).write_text(yaml.safe_dump(pod_from_revision(service)))
    run_checkov(tmp_path, "kubernetes", CHECKOV_ACCEPTED | CHECKOV_ACCEPTED_FOR_KNATIVE)


def test_checkov_passes_the_dockerfile():
    run_checkov(ROOT / "Dockerfile", "dockerfile", CHECKOV_ACCEPTED_FOR_DOCKERFILE)


def test_hadolint_passes_the_dockerfile():
    result = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", "--failure-threshold", "style", "Dockerfile"],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
