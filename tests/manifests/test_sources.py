"""The files under knative/ as written: every YAML parses, every kustomization refers only
to what kustomize will load (no overlay inside its base, files inside their root), and
every autoscaling value carries a comment saying why. These hold without a renderer."""

import re
import pytest

from conftest import AUTOSCALING_PREFIX, KNATIVE, ROOT, load_documents, yaml_files

KUSTOMIZATION_FILE_FIELDS = ("resources", "components")
ANNOTATION = re.compile(r"^\s*" + re.escape(AUTOSCALING_PREFIX) + r"[a-z-]+:")
REVISION_SETTING = re.compile(r"^\s*(?:containerConcurrency|timeoutSeconds|responseStartTimeoutSeconds):")


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_parses(path):
    documents = load_documents(path)
    assert documents, f"{path} is empty"
    for doc in documents:
        if isinstance(doc, dict) and path.name != "kustomizeconfig.yaml":
            assert "kind" in doc and "apiVersion" in doc, f"{path}: a document without kind/apiVersion"
        else:
            assert isinstance(doc, (list, dict)), f"{path}: neither an object nor a JSON patch"


def test_service_yaml_is_the_base():
    assert (KNATIVE / "service.yaml").resolve() == (KNATIVE / "base" / "service.yaml").resolve()


@pytest.mark.parametrize(
    "kustomization", sorted(KNATIVE.rglob("kustomization.yaml")), ids=lambda p: str(p.parent.relative_to(ROOT))
)
def test_kustomization_refers_only_to_what_kustomize_loads(kustomization):
    (spec,) = load_documents(kustomization)
    root = kustomization.parent.resolve()
    for field in KUSTOMIZATION_FILE_FIELDS:
        for entry in spec.get(field, []):
            target = (root / entry).resolve()
            assert target.exists(), f"{kustomization}: {field} entry {entry} does not exist"
            if target.is_dir():
                assert (target / "kustomization.yaml").is_file(), f"{entry} is not a kustomization"
                # kustomize reports a cycle when a base directory contains its overlay.
                assert not root.is_relative_to(target), f"{kustomization}: {entry} contains this overlay"
            else:
                assert target.is_relative_to(root), f"{kustomization}: {entry} is outside the kustomization's root"
    files = [p.get("path") for p in spec.get("patches", [])] + spec.get("configurations", [])
    files += [f.split("=")[-1] for g in spec.get("configMapGenerator", []) for f in g.get("files", [])]
    for name in filter(None, files):
        target = (root / name).resolve()
        assert target.is_file() and target.is_relative_to(root), f"{kustomization}: {name} must be a file inside {root}"


def test_top_level_kustomization_applies_only_the_knative_base():
    (spec,) = load_documents(KNATIVE / "kustomization.yaml")
    assert spec["resources"] == ["base"], "the overlays and the plain path are applied on their own"


def tuned_lines(path):
    """(line number, line) of every autoscaling annotation, and of the revision spec's
    containerConcurrency and timeouts (not the probes' timeoutSeconds)."""
    lines = path.read_text().splitlines()
    spec_indent = {len(l) - len(l.lstrip()) for l in lines if l.strip().startswith("containerConcurrency:")}
    tuned = []
    for number, line in enumerate(lines):
        indent = len(line) - len(line.lstrip())
        if ANNOTATION.match(line) or (indent in spec_indent and REVISION_SETTING.match(line)):
            tuned.append(number)
    return lines, tuned


@pytest.mark.parametrize(
    "path", [p for p in yaml_files() if tuned_lines(p)[1]], ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_tuned_value_has_a_comment_saying_why(path):
    lines, tuned = tuned_lines(path)
    for number in tuned:
        # Walk up over the other values of the same group until a comment (or nothing).
        above = number - 1
        while above >= 0 and above in tuned:
            above -= 1
        assert above >= 0 and lines[above].strip().startswith("#"), (
            f"{path.relative_to(ROOT)}:{number + 1}: `{lines[number].strip()}` has no comment above it"
        )


def test_configmap_model_fits_in_a_configmap():
    model = KNATIVE / "overlays" / "model-configmap" / "model.onnx"
    # 1 MiB per object in etcd, base64 makes binaryData 4/3 larger.
    assert 0 < model.stat().st_size < 750 * 1024
