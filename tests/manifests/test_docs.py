"""docs/deploy.md stays pasteable: every directory it applies is a kustomization, the image
sed edits the lines the kustomizations have, and the `kn` commands set the same values as
the manifests."""

import re
import shlex

import pytest
import yaml

from conftest import ROOT, knative_services, render

GUIDE = ROOT / "docs" / "deploy.md"
README = ROOT / "README.md"
BENCHMARKS = ROOT / "BENCHMARKS.md"


def guide():
    return GUIDE.read_text()


def shell_commands():
    """Every command in the guide's sh blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", guide(), re.S):
        for command in re.sub(r"\\\n\s*", " ", block).splitlines():
            command = command.split(" #", 1)[0].strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def kn_flags(subcommand):
    (command,) = [c for c in shell_commands() if c.startswith(f"kn service {subcommand} iris --image")]
    words = shlex.split(command.replace('"$IMAGE"', "IMAGE"))
    flags = {}
    for i, word in enumerate(words):
        if word.startswith("--"):
            flags.setdefault(word[2:], []).append(words[i + 1])
    return flags


@pytest.fixture(scope="module")
def base():
    return knative_services(render("knative"))[0]


def test_every_applied_directory_is_a_kustomization():
    applied = [c.split()[3] for c in shell_commands() if c.startswith("kubectl apply -k ")]
    assert "knative/" in applied and "knative/kubernetes" in applied
    for directory in applied:
        assert (ROOT / directory / "kustomization.yaml").is_file(), directory


def test_the_image_sed_edits_every_kustomization_that_sets_the_image():
    (sed,) = [c for c in shell_commands() if c.startswith("sed -i ")]
    files = [word for word in sed.split() if word.endswith("kustomization.yaml")]
    for name in files:
        images = yaml.safe_load((ROOT / name).read_text())["images"]
        assert [i["name"] for i in images] == ["iris-function"], name
        assert {"newName", "newTag"} <= images[0].keys()
    setting = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "knative").rglob("kustomization.yaml")
        if any(i.get("name") == "iris-function" for i in yaml.safe_load(path.read_text()).get("images", []))
    }
    assert "knative/base/kustomization.yaml" in setting
    assert set(files) == setting


def test_kn_create_sets_what_the_manifest_sets(base):
    flags = kn_flags("create")
    template = base["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    spec = template["spec"]
    container = spec["containers"][0]
    port = container["ports"][0]
    prefix = "autoscaling.knative.dev/"
    assert flags["port"] == [f"{port['name']}:{port['containerPort']}"]
    assert flags["scale"] == [f"{annotations[prefix + 'min-scale']}..{annotations[prefix + 'max-scale']}"]
    assert flags["scale-init"] == [annotations[prefix + "initial-scale"]]
    assert flags["scale-metric"] == [annotations[prefix + "metric"]]
    assert flags["scale-target"] == [annotations[prefix + "target"]]
    assert flags["scale-utilization"] == [annotations[prefix + "target-utilization-percentage"]]
    assert flags["scale-window"] == [annotations[prefix + "window"]]
    assert flags["annotation-revision"] == [f"{prefix}target-burst-capacity={annotations[prefix + 'target-burst-capacity']}"]
    assert flags["concurrency-limit"] == [str(spec["containerConcurrency"])]
    assert flags["timeout"] == [str(spec["timeoutSeconds"])]
    resources = container["resources"]
    assert flags["request"] == [f"cpu={resources['requests']['cpu']},memory={resources['requests']['memory']}"]
    assert flags["limit"] == [f"cpu={resources['limits']['cpu']},memory={resources['limits']['memory']}"]
    assert flags["probe-readiness"] == [f"http::{port['containerPort']}:{container['readinessProbe']['httpGet']['path']}"]
    assert flags["probe-liveness"] == [f"http::{port['containerPort']}:{container['livenessProbe']['httpGet']['path']}"]
    # kn writes --user as a security context of its own, which would replace the strict
    # one (or be replaced by it): the user comes from the image instead.
    assert "user" not in flags
    assert flags["security-context"] == ["strict"]


def test_the_image_runs_as_the_user_the_manifests_pin(base):
    security = base["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    (user,) = re.findall(r"^USER (\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert user == f"{security['runAsUser']}:{security['runAsGroup']}"


def test_the_manifests_are_previewed_and_checked_before_anything_is_applied():
    commands = shell_commands()
    first_apply = next(i for i, c in enumerate(commands) if c.startswith("kubectl apply"))
    before = commands[:first_apply]
    assert "kubectl kustomize knative/" in before
    assert "tests/manifests/run.sh" in before


def test_the_standalone_kustomize_recipe_sets_the_image_wherever_sed_does():
    (loop,) = re.findall(r"for dir in ([^;]+); do \(cd \"\$dir\" && kustomize edit set image ", guide())
    (sed,) = [c for c in shell_commands() if c.startswith("sed -i ")]
    edited = {name.rsplit("/", 1)[0] for name in sed.split() if name.endswith("kustomization.yaml")}
    assert set(loop.split()) == edited


def test_kn_rps_update_matches_the_rps_overlay():
    rps = knative_services(render("knative/overlays/rps"))[0]["spec"]["template"]["metadata"]["annotations"]
    (command,) = [c for c in shell_commands() if c.startswith("kn service update iris --scale-metric")]
    assert command.split()[4:] == ["--scale-metric", "rps", "--scale-target", rps["autoscaling.knative.dev/target"]]


def anchors(markdown):
    """The anchors GitHub gives the headings of `markdown`."""
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", markdown, re.M)
    }


@pytest.mark.parametrize("doc", [README, GUIDE], ids=lambda p: p.name)
def test_the_image_size_is_measured_in_one_place_and_linked(doc):
    """BENCHMARKS.md has the measured image size with its command; the docs link to it
    rather than quote a figure that goes stale."""
    text = doc.read_text()
    assert not re.search(r"\d MB (compressed|unpacked|uncompressed)", text)
    links = re.findall(r"BENCHMARKS\.md#([\w-]+)", text)
    assert links, f"{doc.name} does not link to BENCHMARKS.md's measured size"
    headings = anchors(BENCHMARKS.read_text())
    for anchor in links:
        assert anchor in headings, f"{doc.name}: no heading #{anchor} in BENCHMARKS.md"
