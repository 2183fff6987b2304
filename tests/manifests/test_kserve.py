"""knative/kserve: the tabular-onnx ServingRuntime and ClusterServingRuntime and the
example InferenceService load through the `kserve` Python SDK's generated models (and the
Kubernetes client's, for the pod fields), strictly: a field the models do not know fails,
where KServe's own deserializer would drop it silently. Then the runtime's contract: the
container KServe expects, the formats and protocols the function serves, and arguments
that are the function's own flags. (function/tests/kserve_runtime.rs runs the binary with
those arguments.)"""

import re

import kserve
import kubernetes.client
import pytest
import yaml

from conftest import ROOT, _source, container_env, function_default_port, knative_services, render

PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}
MODELS = {
    "ServingRuntime": "V1alpha1ServingRuntime",
    "ClusterServingRuntime": "V1alpha1ClusterServingRuntime",
    "InferenceService": "V1beta1InferenceService",
}


def load(value, type_name, path="$"):
    """`value` as an instance of the SDK model `type_name` (an OpenAPI type string such as
    `list[V1Container]` or `Dict[str, str]`), refusing fields the model does not have."""
    if value is None:
        return None
    listed = re.fullmatch(r"(?:list|List)\[(.*)\]", type_name)
    if listed:
        assert isinstance(value, list), f"{path}: expected a list"
        return [load(item, listed.group(1), f"{path}[{i}]") for i, item in enumerate(value)]
    mapped = re.fullmatch(r"(?:dict\(|Dict\[)[^,]+, (.*)[)\]]", type_name)
    if mapped:
        assert isinstance(value, dict), f"{path}: expected a map"
        return {key: load(item, mapped.group(1), f"{path}.{key}") for key, item in value.items()}
    if type_name in PRIMITIVES:
        assert isinstance(value, PRIMITIVES[type_name]), f"{path}: {value!r} is not {type_name}"
        return value
    model = getattr(kserve.models, type_name, None) or getattr(kubernetes.client.models, type_name, None)
    assert model is not None, f"{path}: no model named {type_name}"
    assert isinstance(value, dict), f"{path}: expected an object ({type_name})"
    by_json = {json_name: attribute for attribute, json_name in model.attribute_map.items()}
    unknown = sorted(set(value) - set(by_json))
    assert not unknown, f"{path}: {type_name} has no field {unknown}"
    return model(**{by_json[k]: load(v, model.openapi_types[by_json[k]], f"{path}.{k}") for k, v in value.items()})


@pytest.fixture(scope="module")
def namespaced():
    return {doc["kind"]: doc for doc in render("knative/kserve")}


@pytest.fixture(scope="module")
def cluster():
    (runtime,) = render("knative/kserve/cluster")
    return runtime


@pytest.fixture(scope="module")
def runtime(namespaced):
    return namespaced["ServingRuntime"]


def only_container(runtime):
    (container,) = runtime["spec"]["containers"]
    return container


def test_every_kserve_object_loads_through_the_sdk_models(namespaced, cluster):
    assert set(namespaced) == {"ServingRuntime", "InferenceService"}
    for doc in [*namespaced.values(), cluster]:
        loaded = load(doc, MODELS[doc["kind"]])
        assert loaded.metadata.name == doc["metadata"]["name"]


def test_the_strict_loader_refuses_a_misspelt_field(runtime):
    misspelt = {**runtime, "spec": {**runtime["spec"], "supportedModelFormat": []}}
    with pytest.raises(AssertionError, match="supportedModelFormat"):
        load(misspelt, MODELS["ServingRuntime"])
    container = {**only_container(runtime), "arg": []}
    nested = {**runtime, "spec": {**runtime["spec"], "containers": [container]}}
    with pytest.raises(AssertionError, match="V1Container has no field"):
        load(nested, MODELS["ServingRuntime"])


def test_the_cluster_runtime_is_the_namespaced_one(runtime, cluster):
    assert cluster["kind"] == "ClusterServingRuntime"
    assert cluster["metadata"]["name"] == runtime["metadata"]["name"]
    assert cluster["spec"] == runtime["spec"]


def test_runtime_serves_onnx_over_v1_and_v2_in_kserves_container(runtime):
    spec = runtime["spec"]
    # The function loads ONNX and nothing else.
    assert [f["name"] for f in spec["supportedModelFormats"]] == ["onnx"]
    assert {"v1", "v2", "grpc-v2"} <= set(spec["protocolVersions"])
    container = only_container(runtime)
    # KServe mounts /mnt/models into, and routes to, the container with this name.
    assert container["name"] == "kserve-container"
    assert spec["annotations"]["prometheus.kserve.io/port"] == str(function_default_port())


def function_flags():
    """The long flags of the function's `Args` (clap derives `--model-name` from `model_name`)."""
    args = _source("function/src/config.rs").split("pub struct Args {", 1)[1].split("\n}\n", 1)[0]
    return {"--" + name.replace("_", "-") for name in re.findall(r"pub (\w+):", args)}


def test_runtime_args_are_the_functions_flags_with_kserves_values(runtime):
    args = dict(arg.split("=", 1) for arg in only_container(runtime)["args"])
    assert set(args) <= function_flags(), f"unknown flags: {set(args) - function_flags()}"
    # The InferenceService's name, the storage initializer's directory, KServe's port.
    assert args["--model-name"] == "{{.Name}}"
    assert args["--model"] == "/mnt/models"
    assert int(args["--port"]) == function_default_port()


def test_runtime_container_matches_the_knative_service(runtime):
    (service,) = knative_services(render("knative/base"))
    (knative,) = service["spec"]["template"]["spec"]["containers"]
    container = only_container(runtime)
    assert container["image"] == knative["image"]
    assert container["resources"] == knative["resources"]
    assert container_env(container) == container_env(knative)
    for key, value in knative["securityContext"].items():
        assert container["securityContext"][key] == value, key


def test_inference_service_uses_the_runtime(namespaced, runtime):
    model = namespaced["InferenceService"]["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] in [f["name"] for f in runtime["spec"]["supportedModelFormats"]]
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]
    assert re.match(r"^[a-z0-9]+://", model["storageUri"]), "KServe downloads a URI into /mnt/models"



def readme_grpc_inference_service():
    """The InferenceService of README's KServe paragraph: its one ```yaml block."""
    blocks = re.findall(r"^```yaml\n(.*?)^```$", (ROOT / "README.md").read_text(), re.M | re.S)
    services = [doc for doc in map(yaml.safe_load, blocks) if doc.get("kind") == "InferenceService"]
    assert len(services) == 1, services
    return services[0]


def test_readmes_grpc_inference_service_asks_the_runtime_for_grpc_on_the_functions_port(runtime):
    isvc = readme_grpc_inference_service()
    load(isvc, MODELS["InferenceService"])
    model = isvc["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["protocolVersion"] == "grpc-v2"
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]
    # KServe (Knative's queue-proxy, a raw Service's appProtocol) speaks HTTP/2 to a port
    # whose name holds `h2c`; the function serves gRPC and REST on its one port.
    (port,) = model["ports"]
    assert port["name"] == "h2c"
    assert port["containerPort"] == function_default_port()
