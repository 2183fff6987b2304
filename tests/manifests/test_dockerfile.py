"""The Dockerfile agrees with the manifests and the function: a static build, a runtime
stage on scratch with only the binary and the model, the user the manifests pin, the
function's default port, an exec-form entrypoint (so the function is PID 1 and gets
SIGTERM). tests/container/run.sh builds and runs that runtime stage."""

import json
import re
import shlex
import tomllib

from conftest import ROOT, dockerfile_stages, function_default_port, knative_services, render


def runtime():
    return dockerfile_stages()[1]


def build_text():
    return " ".join(args for _, args in dockerfile_stages()[0])


def values(stage, instruction):
    return [args for name, args in stage if name == instruction]


def test_runtime_stage_is_scratch_with_only_the_binary_and_the_model():
    stage = runtime()
    assert stage[0] == ("FROM", "scratch")
    copies = values(stage, "COPY")
    assert len(copies) == 2, copies
    assert all(c.startswith("--from=build ") for c in copies), "everything comes from the build stage"
    destinations = {c.split()[-1] for c in copies}
    assert "/function" in destinations
    assert any(d.endswith(".onnx") for d in destinations)
    assert not values(stage, "RUN"), "scratch has no shell to RUN anything with"


def test_build_stage_makes_a_static_binary_and_the_model():
    text = build_text()
    assert "target-feature=+crt-static" in text
    # Profile dist (fat LTO, Cargo.toml) is what ships; tests/container/run.sh builds it too.
    assert "--profile dist" in text and "--target x86_64-unknown-linux-gnu" in text
    assert "target/x86_64-unknown-linux-gnu/dist/function" in text
    with open(ROOT / "Cargo.toml", "rb") as f:
        dist = tomllib.load(f)["profile"]["dist"]
    assert dist["inherits"] == "release" and dist["lto"] == "fat", dist
    assert "-p function" in text and "-p converter" in text
    assert re.search(r"converter train -o \S+\.onnx", text)
    assert re.search(r"strip /out/function", text), "tests/container/run.sh strips the same way"


def rustflags(text):
    """The RUSTFLAGS='...' values a file sets."""
    return re.findall(r"RUSTFLAGS='([^']*)'", text)


def test_the_container_test_and_the_benchmark_build_the_binary_the_dockerfile_ships():
    (shipped,) = rustflags(build_text())
    # Static (no loader on scratch) and non-PIE (no start-up relocations, see the Dockerfile).
    assert shipped.split() == ["-C", "target-feature=+crt-static", "-C", "relocation-model=static"]
    for script in ["tests/container/run.sh", "bench/compare.sh"]:
        text = (ROOT / script).read_text()
        assert rustflags(text) == [shipped], f"{script} builds with other flags than the Dockerfile"
        assert "--profile dist" in text and "x86_64-unknown-linux-gnu" in text, script


def environment(stage):
    """Every KEY=value the ENV instructions of `stage` set."""
    return dict(pair.partition("=")[::2] for env in values(stage, "ENV") for pair in shlex.split(env))


def test_model_path_points_at_the_copied_model():
    stage = runtime()
    path = environment(stage)["MODEL_PATH"]
    assert any(c.split()[-1] == path for c in values(stage, "COPY"))


def test_logs_are_json_in_the_image():
    # The function reads LOG_FORMAT; log collectors want one JSON object per line.
    assert environment(runtime())["LOG_FORMAT"] == "json"


def test_runs_as_the_user_the_manifests_pin():
    (user,) = values(runtime(), "USER")
    uid, _, gid = user.partition(":")
    container = knative_services(render("knative"))[0]["spec"]["template"]["spec"]["containers"][0]
    assert int(uid) == container["securityContext"]["runAsUser"] == 65532
    assert int(gid) == container["securityContext"]["runAsGroup"] == 65532


def test_exposes_the_functions_default_port():
    assert values(runtime(), "EXPOSE") == [str(function_default_port())]


def test_entrypoint_is_exec_form():
    (entrypoint,) = values(runtime(), "ENTRYPOINT")
    assert json.loads(entrypoint) == ["/function"], "exec form: no shell between PID 1 and SIGTERM"
    assert not values(runtime(), "CMD")


def test_dockerignore_keeps_build_output_out_and_sources_in():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {"target", ".git"} <= ignored
    needed = {"Cargo.toml", "Cargo.lock", "function", "converter", "models", "tests"}
    assert not needed & ignored, "the build needs every workspace member and the model"
